/**
 * Which CAs the agent verifies the broker with, as the bootstrap file says (`brokerTrust`): the
 * fleet CA unless told otherwise. Read from the first bootstrap file there is (the boot partition's
 * keeps the field after the token has moved, and the state directory's copy has it too), at start.
 * Enrollment is not affected: it always verifies against the pinned fleet CA.
 */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { readCertificates } from '../../shared/pki/certificate.js';
import { readBootstrapFiles } from './bootstrap.js';

/** What the MQTT connection is given: the fleet CA (from the live credentials), the runtime's default store, or a file's CAs. */
export type ResolvedBrokerTrust =
  { readonly kind: 'fleet-ca' } | { readonly kind: 'system' } | { readonly kind: 'ca-file'; readonly path: string; readonly caPem: string };

const MAX_CA_FILE_BYTES = 256 * 1024;

export async function resolveBrokerTrust(bootstrapFiles: readonly string[], bootstrapCopy: string): Promise<ResolvedBrokerTrust> {
  const [first] = await readBootstrapFiles([...bootstrapFiles, bootstrapCopy]);
  const trust = first?.file.brokerTrust ?? 'fleet-ca';
  if (trust === 'fleet-ca' || trust === 'system') return { kind: trust };
  let caPem: string;
  try {
    caPem = await readFile(trust.caFile, 'utf8');
  } catch (err) {
    throw new FleetcertError(
      'config_invalid',
      `brokerTrust.caFile ${trust.caFile}: cannot read it (${(err as NodeJS.ErrnoException).code})`,
      {
        hint: `${first!.path} says the broker is verified with this file: install it, or remove brokerTrust`,
      },
    );
  }
  if (Buffer.byteLength(caPem) > MAX_CA_FILE_BYTES || !isCertificates(caPem)) {
    throw new FleetcertError('config_invalid', `brokerTrust.caFile ${trust.caFile}: not a PEM file of CA certificates`);
  }
  return { kind: 'ca-file', path: trust.caFile, caPem };
}

function isCertificates(pem: string): boolean {
  try {
    return readCertificates(pem).length > 0;
  } catch {
    return false;
  }
}
