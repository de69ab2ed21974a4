/**
 * Builds the bootstrap file for the boot partition, checked against the schema the agent
 * reads it with, so the server can never write one the agent refuses.
 */
import { bootstrapFileSchema, type BootstrapFile, type BrokerTrust } from '../../shared/protocol/bootstrap-file.js';
import { certificateToPem, describeCertificate, type Certificate } from '../../shared/pki/certificate.js';

export function buildBootstrapFile(
  token: string,
  root: Certificate,
  enrollUrl: string | undefined,
  brokerTrust?: BrokerTrust,
): BootstrapFile {
  return bootstrapFileSchema.parse({
    version: 1,
    token,
    caFingerprint: describeCertificate(root).fingerprintSha256,
    caCertificate: certificateToPem(root),
    ...(enrollUrl === undefined ? {} : { enrollUrl }),
    ...(brokerTrust === undefined ? {} : { brokerTrust }),
  });
}
