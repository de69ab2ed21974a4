/**
 * `fleetcert admin issue`: client credentials for an admin (server/pki/issue-client-credentials.ts)
 * sealed into a PKCS#12 file a browser imports. The key goes to openssl through a pipe, never to
 * disk; the .p12 is 0600 and encrypted with its passphrase (openssl 3 defaults: AES-256-CBC, PBKDF2).
 */
import { certificatesToPem } from '../../shared/pki/certificate.js';
import type { Authority } from '../authority/authority.js';
import { issueClientCredentials } from '../pki/issue-client-credentials.js';
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
  const credentials = await issueClientCredentials({
    authority: p.authority,
    profile: 'device-client', // clientAuth, CA:false: the same extensions; the subject is what differs
    subject: { commonName: adminCommonName(p.name), organization: ADMIN_ORGANIZATION },
    lifetimeSeconds: p.lifetimeSeconds,
    now: p.now,
  });
  const p12 = await exportPkcs12(credentials.keyPem + certificatesToPem(credentials.chain), `fleetcert admin ${p.name}`, p.p12Passphrase);
  return { serial: credentials.serial, notAfter: credentials.notAfter, p12 };
}
