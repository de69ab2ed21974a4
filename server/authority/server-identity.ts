/**
 * fleetcert's own MQTT identity: a client certificate with CN `fleetcert-server` (a reserved
 * device id, so no device can enroll as it), used by `serve` to watch device status and by
 * `renew-now` to send commands. Issued by `broker-config`, renewed there when it nears expiry.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import { certificatesToPem, readCertificate } from '../../shared/pki/certificate.js';
import { toPem } from '../../shared/pki/encoding.js';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair } from '../../shared/pki/key-pair.js';
import { SERVER_IDENTITY } from '../../shared/protocol/topics.js';
import type { TlsFiles } from '../config/data-layout.js';
import type { Authority } from './authority.js';

const LIFETIME_SECONDS = 365 * 86400;
const RENEW_WITHIN_SECONDS = 30 * 86400;

/** Issues the identity if it is missing or expires within 30 days. True when it issued one. */
export async function ensureServerIdentity(authority: Authority, files: TlsFiles, now: Date): Promise<boolean> {
  try {
    const current = readCertificate(await readFile(files.cert, 'utf8'));
    if (current.notAfter.getTime() - now.getTime() > RENEW_WITHIN_SECONDS * 1000) return false;
  } catch {
    // missing or unreadable: issue a new one
  }
  const keys = await generateKeyPair();
  const issued = await authority.issuer.issue({
    profile: 'device-client',
    subject: { commonName: SERVER_IDENTITY },
    publicKeySpki: await exportPublicKeySpki(keys),
    now,
    lifetimeSeconds: LIFETIME_SECONDS,
  });
  await writeFileAtomic(files.key, await exportPrivateKeyPem(keys), { mode: 0o600 });
  await writeFileAtomic(files.cert, toPem(issued.der, 'CERTIFICATE') + certificatesToPem([authority.issuer.certificate]));
  return true;
}
