/**
 * `fleetcert admin issue`: a key made here, a client certificate for it from the issuing CA, and
 * both sealed into a PKCS#12 file a browser imports. The key exists unencrypted only in this
 * process and in the pipe to openssl (never on disk); the .p12 is 0600 and encrypted with its
 * passphrase (openssl 3 defaults: AES-256-CBC, PBKDF2).
 */
import { certificatesToPem, readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair } from '../../shared/pki/key-pair.js';
import type { Authority } from '../authority/authority.js';
import { exportPkcs12 } from '../pki/pkcs12-export.js';
import { ADMIN_ORGANIZATION, adminCommonName } from './admin-identity.js';

export interface AdminCertificate {
  readonly serial: string;
  readonly notAfter: Date;
  /** The PKCS#12 (key, certificate, issuing CA). */
  readonly p12: Buffer;
}

export async function issueAdminCertificate(p: {
  authority: Authority;
  name: string;
  lifetimeSeconds: number;
  now: Date;
  p12Passphrase: string;
}): Promise<AdminCertificate> {
  const keys = await generateKeyPair();
  const issued = await p.authority.issuer.issue({
    profile: 'device-client', // clientAuth, CA:false: the same extensions; the subject is what differs
    subject: { commonName: adminCommonName(p.name), organization: ADMIN_ORGANIZATION },
    publicKeySpki: await exportPublicKeySpki(keys),
    now: p.now,
    lifetimeSeconds: p.lifetimeSeconds,
  });
  const chain: Certificate[] = [readCertificate(issued.der), p.authority.issuer.certificate];
  const p12 = await exportPkcs12(
    (await exportPrivateKeyPem(keys)) + certificatesToPem(chain),
    `fleetcert admin ${p.name}`,
    p.p12Passphrase,
  );
  return { serial: issued.serial, notAfter: issued.notAfter, p12 };
}
