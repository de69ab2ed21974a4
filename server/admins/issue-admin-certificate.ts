/**
 * `fleetcert admin issue`: a key made here, a client certificate for it from the issuing CA, and
 * both sealed into a PKCS#12 file a browser imports. The key exists unencrypted only in this
 * process and in the pipe to openssl (never on disk); the .p12 is 0600 and encrypted with its
 * passphrase (openssl 3 defaults: AES-256-CBC, PBKDF2).
 */
import { spawn } from 'node:child_process';
import { certificatesToPem, readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair } from '../../shared/pki/key-pair.js';
import { FleetcertError } from '../../shared/errors.js';
import type { Authority } from '../authority/authority.js';
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
  const p12 = await openSslPkcs12(
    (await exportPrivateKeyPem(keys)) + certificatesToPem(chain),
    `fleetcert admin ${p.name}`,
    p.p12Passphrase,
  );
  return { serial: issued.serial, notAfter: issued.notAfter, p12 };
}

/** `openssl pkcs12 -export`, key and certificates on stdin, passphrase in the child's environment only. */
function openSslPkcs12(pem: string, friendlyName: string, passphrase: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['pkcs12', '-export', '-name', friendlyName, '-passout', 'env:FLEETCERT_P12_PASSPHRASE'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FLEETCERT_P12_PASSPHRASE: passphrase },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) =>
      reject(new FleetcertError('config_invalid', `cannot run openssl: ${e.message}`, { cause: e, hint: 'install openssl on this host' })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new FleetcertError('internal', `openssl pkcs12 -export failed (${code}): ${err.trim().slice(0, 300)}`));
    });
    child.stdin.end(pem);
  });
}
