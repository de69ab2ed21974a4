/** What a renewal needs, from the agent's configuration: the commands that renew share this. */
import type { Logger } from '../../shared/log/logger.js';
import type { AgentConfig } from '../config/agent-config.js';
import type { StateLayout } from '../config/state-layout.js';
import { CredentialStore } from '../credentials/credential-store.js';
import type { EstEndpoint } from '../enrollment/est-client.js';
import { deviceMetadata, resolveIdentity } from '../identity/resolve-identity.js';
import { systemFacts } from '../identity/system-metadata.js';
import type { RenewParams } from '../renewal/renew-certificate.js';

export async function renewalParams(config: AgentConfig, layout: StateLayout, endpoint: EstEndpoint, log: Logger): Promise<RenewParams> {
  const identity = await resolveIdentity(config.identityRoot, config.idTemplate, layout);
  return {
    layout,
    store: new CredentialStore(layout, log),
    endpoint,
    keyType: config.keyType,
    hooksDir: config.hooksDir,
    metadata: deviceMetadata(identity, await systemFacts()),
    bootstrapFiles: config.bootstrapFiles,
    log,
  };
}
