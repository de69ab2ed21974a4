/**
 * Rewrites the device listener's ACL from the registry: the fixed device and server rules, plus
 * one block per active service. Written inside a registry transaction holding the broker-acl lock
 * (SQLite's write lock, PostgreSQL's advisory lock) so that two commands granting or revoking at
 * once cannot leave the file with the older view: whoever writes last has read the registry after
 * every earlier change.
 */
import { readFile } from 'node:fs/promises';
import type { BrokerSettings } from '../config/broker-settings.js';
import type { Registry } from '../registry/registry.js';
import { serviceCommonName } from '../services/service-identity.js';
import { brokerFiles, brokerOwnership, writeBrokerFile } from './broker-files.js';
import { renderAcl, type ServiceAcl } from './render-mosquitto-config.js';

/** The ACL blocks of the registry's active services. */
export async function activeServiceAcls(registry: Registry): Promise<ServiceAcl[]> {
  return (await registry.listServices())
    .filter((s) => s.status === 'active')
    .map((s) => ({ commonName: serviceCommonName(s.name), read: s.read, write: s.write }));
}

/** Rewrites the ACL (after a grant or a revocation made here), whatever the file holds now. */
export async function writeBrokerAcl(registry: Registry, settings: Pick<BrokerSettings, 'outDir' | 'group'>): Promise<void> {
  await refreshBrokerAcl(registry, settings, { always: true });
}

/**
 * Rewrites the ACL, unless `always` is off and the registry's services render the one the file
 * already holds (the periodic check for grants and revocations made through another instance of a
 * scale-out); true when it wrote. Under the broker-acl lock, so it never puts back an older view.
 */
export async function refreshBrokerAcl(
  registry: Registry,
  settings: Pick<BrokerSettings, 'outDir' | 'group'>,
  { always = false } = {},
): Promise<boolean> {
  const owner = await brokerOwnership(settings.group ?? undefined);
  const file = brokerFiles(settings.outDir).aclFile;
  return registry.transaction(
    async (tx) => {
      const wanted = renderAcl(await activeServiceAcls(tx));
      if (!always && (await readFile(file, 'utf8').catch(() => undefined)) === wanted) return false;
      await writeBrokerFile(file, wanted, owner);
      return true;
    },
    { lock: 'broker-acl' },
  );
}
