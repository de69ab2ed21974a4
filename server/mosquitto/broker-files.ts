/**
 * The files Mosquitto reads, in the directory `broker-config --out` names (the one module that
 * knows their names), written so the `mosquitto` user can read them after it drops root:
 * run as root, the directory is 0750 and the key 0640, group `mosquitto`; otherwise (a test,
 * a broker run by the same user) the key is 0600. Every file is replaced atomically.
 */
import { chown } from 'node:fs/promises';
import { join } from 'node:path';
import { groupId } from '../../shared/fs/group-id.js';
import { ensureDirectory, writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { EmqxFiles } from '../emqx/render-emqx-config.js';
import type { BrokerFiles } from './render-mosquitto-config.js';

export function brokerFiles(outDir: string): BrokerFiles {
  return {
    conf: join(outDir, 'fleetcert.conf'),
    cafile: join(outDir, 'ca.pem'),
    certfile: join(outDir, 'broker.pem'),
    keyfile: join(outDir, 'broker.key'),
    crlfile: join(outDir, 'crl.pem'),
    aclFile: join(outDir, 'acl'),
    adminAclFile: join(outDir, 'admin.acl'),
    passwordFile: join(outDir, 'passwd'),
  };
}

/** The files of `broker-config --kind emqx` (docs/BROKERS.md): the CA bundle, key pair and CRL named as Mosquitto's. */
export function emqxFiles(outDir: string): EmqxFiles {
  const shared = brokerFiles(outDir);
  return {
    settings: join(outDir, 'emqx-fleetcert.conf'),
    aclFile: join(outDir, 'acl.conf'),
    cafile: shared.cafile,
    certfile: shared.certfile,
    keyfile: shared.keyfile,
    crlfile: shared.crlfile,
  };
}

/** Who may read what: the group Mosquitto runs as, when we can give files to it. */
export interface Ownership {
  readonly gid: number | undefined;
}

export async function brokerOwnership(group: string | undefined, etcGroup = '/etc/group'): Promise<Ownership> {
  if (group === undefined || process.getuid?.() !== 0) return { gid: undefined };
  return { gid: await groupId(group, etcGroup) };
}

export async function prepareBrokerDirectory(outDir: string, owner: Ownership): Promise<void> {
  await ensureDirectory(outDir, owner.gid === undefined ? 0o755 : 0o750);
  if (owner.gid !== undefined) await chown(outDir, 0, owner.gid);
}

/** Writes one broker file; `secret` files are readable by the broker's group only. Used for the CRL too. */
export async function writeBrokerFile(path: string, content: string, owner: Ownership, secret = false): Promise<void> {
  const mode = secret ? (owner.gid === undefined ? 0o600 : 0o640) : 0o644;
  await writeFileAtomic(path, content, { mode, ...(owner.gid === undefined ? {} : { gid: owner.gid }) });
}
