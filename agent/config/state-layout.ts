/**
 * The one module that knows where things live in the agent's state directory. Other
 * programs on the device (Node-RED, scripts) use the stable `live/` paths.
 *
 *   <state>/                     0700
 *     live -> generations/<n>    symlink, swapped atomically on every install
 *     generations/<n>/           one directory per installed certificate, previous kept
 *     pending/key.pem     0600   a key made before enrolling, waiting for its certificate
 *     ca.pem                     the pinned root CA, once first contact has checked it
 *     device-id                  a generated id part, only for hardware without a serial or MAC
 *     broker.json                where the broker is and the live file paths, for local apps
 *     renew.lock                 held while a renewal runs (daemon or `fleetcert-agent renew`); renewal-lock.ts
 *     bootstrap.json     0600   the bootstrap file, token included, moved off the boot partition (bootstrap-token.ts)
 *     clock                      the last time known to be right (after TLS worked): raises the clock floor
 *     outbox/            0700    messages from local programs, published by the agent (outbox.ts)
 *     hardware.json              the board the credentials belong to (hardware-binding.ts)
 *     status.json        0644    what the running agent is doing (agent-status.ts); no secret in it
 *     local-broker/      0700    local broker mode: its mosquitto.conf, pid and queue (agent/local-broker/)
 *     foreign-<time>/            another board's state found on this card, set aside (hardware-binding.ts)
 *       key.pem    0600          this generation's private key (never leaves the device)
 *       cert.pem                 the device certificate
 *       chain.pem                certificate + issuing CA (what a TLS client presents)
 *       ca.pem                   the pinned root CA (what a TLS client trusts)
 */
import { join } from 'node:path';

export const DEFAULT_STATE_DIR = '/var/lib/fleetcert-agent';
export const FOREIGN_PREFIX = 'foreign-';
export const PARTIAL_SUFFIX = '.partial';

export interface CredentialFiles {
  readonly dir: string;
  readonly key: string;
  readonly cert: string;
  readonly chain: string;
  readonly ca: string;
}

export interface StateLayout {
  readonly root: string;
  readonly generationsDir: string;
  readonly live: CredentialFiles;
  readonly pending: CredentialFiles;
  readonly pinnedCa: string;
  readonly generatedId: string;
  readonly brokerInfo: string;
  readonly renewLock: string;
  readonly clockFile: string;
  readonly bootstrapCopy: string;
  readonly outbox: string;
  readonly localBroker: string;
  readonly hardwareBinding: string;
  readonly statusFile: string;
  /** Files that belong to the fleet, not to one board: a cloned card's are this board's too. */
  readonly fleetWide: readonly string[];
  generation(name: string): CredentialFiles;
  /** Where another board's state goes, named by the time it was found (`partial` while it is being moved). */
  foreignDir(stamp: string, partial: boolean): string;
}

/** `outboxDir`: the configured outbox, when it is not the one inside the state directory. */
export function stateLayout(root: string, outboxDir?: string): StateLayout {
  const files = (dir: string): CredentialFiles => ({
    dir,
    key: join(dir, 'key.pem'),
    cert: join(dir, 'cert.pem'),
    chain: join(dir, 'chain.pem'),
    ca: join(dir, 'ca.pem'),
  });
  const generationsDir = join(root, 'generations');
  return {
    root,
    generationsDir,
    live: files(join(root, 'live')),
    pending: files(join(root, 'pending')),
    pinnedCa: join(root, 'ca.pem'),
    generatedId: join(root, 'device-id'),
    brokerInfo: join(root, 'broker.json'),
    renewLock: join(root, 'renew.lock'),
    clockFile: join(root, 'clock'),
    bootstrapCopy: join(root, 'bootstrap.json'),
    outbox: outboxDir ?? join(root, 'outbox'),
    hardwareBinding: join(root, 'hardware.json'),
    statusFile: join(root, 'status.json'),
    localBroker: join(root, 'local-broker'),
    // The token (valid for every board of the fleet), the pinned root and the last good time.
    fleetWide: ['bootstrap.json', 'ca.pem', 'clock'],
    generation: (name) => files(join(generationsDir, name)),
    foreignDir: (stamp, partial) => join(root, `${FOREIGN_PREFIX}${stamp}${partial ? PARTIAL_SUFFIX : ''}`),
  };
}
