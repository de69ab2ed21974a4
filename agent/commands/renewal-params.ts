/** What a renewal needs, from the agent's configuration: the commands that renew share this. */
import type { Logger } from '../../shared/log/logger.js';
import type { AgentConfig } from '../config/agent-config.js';
import { resolveBrokerTrust } from '../config/broker-trust.js';
import type { StateLayout } from '../config/state-layout.js';
import { CredentialStore } from '../credentials/credential-store.js';
import type { Endpoints } from '../discovery/endpoints.js';
import { deviceMetadata, resolveIdentity } from '../identity/resolve-identity.js';
import { systemFacts } from '../identity/system-metadata.js';
import { proveCertificate } from '../mqtt/prove-certificate.js';
import type { RenewParams } from '../renewal/renew-certificate.js';
import { VERSION } from '../../shared/version.js';

/** How long a renewed certificate has to connect to the broker before the renewal is left unproven. */
export const PROOF_TIMEOUT_MS = 20_000;

/**
 * By default a renewed certificate is proven with a short connection of its own (the one-shot
 * commands); the service passes `prove` to use its own connection's client id instead.
 */
export async function renewalParams(
  config: AgentConfig,
  layout: StateLayout,
  endpoints: Endpoints,
  log: Logger,
  prove?: RenewParams['prove'],
): Promise<RenewParams> {
  const identity = await resolveIdentity(config.identityRoot, config.idTemplate, layout);
  const broker = { ...endpoints.broker, trust: await resolveBrokerTrust(config.bootstrapFiles, layout.bootstrapCopy) };
  return {
    layout,
    store: new CredentialStore(layout, log),
    endpoint: endpoints.enroll,
    prove:
      prove ??
      ((candidate, deviceId) =>
        proveCertificate({
          broker,
          deviceId,
          files: candidate.files,
          agentVersion: VERSION,
          timeoutMs: PROOF_TIMEOUT_MS,
          log,
        })),
    keyType: config.keyType,
    hooksDir: config.hooksDir,
    metadata: deviceMetadata(identity, await systemFacts()),
    bootstrapFiles: config.bootstrapFiles,
    log,
  };
}
