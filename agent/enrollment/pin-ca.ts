/**
 * Trust on first contact. The bootstrap file pins the fleet root by SHA-256; it may carry the
 * root itself. Without it, the agent fetches /cacerts once over an unverified connection,
 * keeps only the certificate whose fingerprint matches the pin (a self-signed CA), and from
 * then on verifies every connection against it. A mismatch stops before the token is sent.
 * The pinned root is kept in the state directory for later runs.
 */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';
import type { BootstrapFile } from '../../shared/protocol/bootstrap-file.js';
import { certificateToPem, describeCertificate, readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { EstClient, type EstEndpoint } from './est-client.js';

export async function pinnedRoot(bootstrap: BootstrapFile, endpoint: EstEndpoint, pinFile: string, log: Logger): Promise<Certificate> {
  const pin = bootstrap.caFingerprint;
  const kept = await readFile(pinFile, 'utf8').then(readCertificate, () => undefined);
  if (kept && describeCertificate(kept).fingerprintSha256 === pin) return kept;

  let root: Certificate | undefined;
  if (bootstrap.caCertificate) {
    root = readCertificate(bootstrap.caCertificate);
    if (describeCertificate(root).fingerprintSha256 !== pin) {
      throw new FleetcertError(
        'bootstrap_invalid',
        'the bootstrap file is inconsistent: its caCertificate does not have its caFingerprint',
        {
          hint: 'make a new one with "fleetcert token create --out fleetcert.json"',
        },
      );
    }
  } else {
    log.info('fetching the CA certificates once, unverified, to check them against the pinned fingerprint', {
      event: 'ca_fetch_unverified',
      url: endpoint.url,
    });
    const offered = await new EstClient(endpoint, undefined, log).cacerts();
    root = offered.find((c) => describeCertificate(c).fingerprintSha256 === pin && isSelfSignedCa(c));
    if (!root) {
      throw new FleetcertError(
        'ca_pin_mismatch',
        `the server at ${endpoint.url} offers no CA with the pinned SHA-256 ${pin}; the token was not sent`,
        {
          hint: 'this is not your fleetcert server (or the bootstrap file is for another fleet)',
        },
      );
    }
  }
  await writeFileAtomic(pinFile, certificateToPem(root));
  log.info('CA pinned', { fingerprint: pin, subject: root.subject });
  return root;
}

function isSelfSignedCa(cert: Certificate): boolean {
  return cert.subject === cert.issuer && cert.isCa;
}
