/**
 * Credentials belong to the board they were enrolled on. The agent records the hardware facts
 * its identity was built from (`hardware.json`, beside the credentials) before it first asks for
 * a certificate; at every start a state directory whose record names other hardware (an SD card
 * cloned from a configured board) is never used: it is moved aside, kept, into
 * `<state>/foreign-<time>/`, and this board enrolls as itself.
 *
 * Which facts decide, and why: the board serial (cpuinfo `Serial`, the device tree's
 * `serial-number`) differs between two boards of one model and survives an OS re-install; the
 * primary MAC does too, on boards without a serial. `/etc/machine-id` and the hostname are
 * written by the OS: a cloned card carries them, so they cannot tell the boards apart. The model
 * decides nothing (two Pi 4s share it; a VM's CPU name changes when it migrates). A board with
 * neither serial nor MAC has only the random id kept in the state directory, which a clone
 * carries as well: the agent cannot tell, and the server's session-takeover flag is what shows it.
 */
import { copyFile, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { FleetcertError } from '../../shared/errors.js';
import { pathExists } from '../../shared/fs/path-exists.js';
import { ensureDirectory, syncDirectory, writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';
import { FOREIGN_PREFIX, PARTIAL_SUFFIX, type StateLayout } from '../config/state-layout.js';
import type { DeviceIdentity } from '../identity/device-identity.js';

const hardwareFactsSchema = z.object({
  model: z.string().max(256),
  serial: z.string().max(64).optional(),
  mac: z.string().max(64).optional(),
  serialSource: z.enum(['cpuinfo', 'devicetree', 'mac', 'generated']),
});

export type HardwareFacts = z.infer<typeof hardwareFactsSchema>;

export function hardwareFacts(identity: DeviceIdentity): HardwareFacts {
  return {
    model: identity.model,
    ...(identity.serial === undefined ? {} : { serial: identity.serial }),
    ...(identity.mac === undefined ? {} : { mac: identity.mac }),
    serialSource: identity.serialSource,
  };
}

/** Why the recorded facts are not this board's (pure), or undefined when they are, or nothing can tell. */
export function bindingMismatch(recorded: HardwareFacts, current: HardwareFacts): string | undefined {
  if (recorded.serial !== undefined) {
    return recorded.serial === current.serial
      ? undefined
      : `board serial ${recorded.serial}, this board's is ${current.serial ?? 'absent'}`;
  }
  if (recorded.mac !== undefined) {
    return recorded.mac === current.mac ? undefined : `MAC ${recorded.mac}, this board's is ${current.mac ?? 'absent'}`;
  }
  return undefined;
}

export async function readBinding(file: string): Promise<HardwareFacts | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return hardwareFactsSchema.parse(JSON.parse(text));
  } catch {
    return undefined; // unreadable: recorded again from this board, like a state directory from before bindings
  }
}

/** Records this board as the owner of the credentials (no secret in it: 0644). */
export async function recordBinding(layout: StateLayout, facts: HardwareFacts): Promise<void> {
  await ensureDirectory(layout.root, 0o700);
  await writeFileAtomic(layout.hardwareBinding, JSON.stringify(facts) + '\n', { mode: 0o644 });
}

export type BindingOutcome = 'own' | 'recorded' | 'unbound' | 'set_aside';

/**
 * For commands other than the service (`renew`): refuses another board's credentials without
 * touching anything (a wrong --identity-root must not move a good state), leaving the move to
 * `run`/`enroll`. A state with no record passes: the service records it.
 */
export async function refuseForeignCredentials(layout: StateLayout, identity: DeviceIdentity): Promise<void> {
  const recorded = await readBinding(layout.hardwareBinding);
  const mismatch = recorded && bindingMismatch(recorded, hardwareFacts(identity));
  if (mismatch) {
    throw new FleetcertError('credentials_foreign', `the credentials in ${layout.root} belong to another board (${mismatch})`, {
      hint: 'a cloned card: restart the service (systemctl restart fleetcert-agent); it sets them aside and enrolls this board',
    });
  }
}

/**
 * At start, before any credential is read: finishes setting aside a foreign state interrupted by
 * a crash, then checks the record against this board. Credentials from before records existed
 * are recorded as this board's (the agent cannot know better); a state with no credentials yet
 * is left for the enrollment to record.
 */
export async function keepCredentialsToThisBoard(
  layout: StateLayout,
  identity: DeviceIdentity,
  log: Logger,
  now: Date,
): Promise<BindingOutcome> {
  await finishSettingAside(layout);
  const current = hardwareFacts(identity);
  const recorded = await readBinding(layout.hardwareBinding);
  if (recorded === undefined) {
    if (!(await holdsCredentials(layout))) return 'unbound';
    await recordBinding(layout, current);
    log.info('recorded this board as the owner of its credentials', { event: 'hardware_binding_recorded', ...current });
    return 'recorded';
  }
  const mismatch = bindingMismatch(recorded, current);
  if (mismatch === undefined) return 'own';
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const movedTo = await setAside(layout, stamp);
  log.error(`the credentials in ${layout.root} belong to another board (${mismatch}): moved to ${movedTo}; enrolling as this board`, {
    event: 'foreign_credentials_set_aside',
    recorded,
    current,
    movedTo,
  });
  return 'set_aside';
}

/** Whether there is anything a board enrolled with: a live link, a generation or a pending key. */
async function holdsCredentials(layout: StateLayout): Promise<boolean> {
  return (await pathExists(layout.live.dir)) || (await pathExists(layout.generationsDir)) || (await pathExists(layout.pending.dir));
}

/**
 * Moves everything but the fleet-wide files into `foreign-<stamp>.partial/` (copies of those go
 * too, as evidence), then renames it `foreign-<stamp>/`. A crash in between leaves the partial
 * directory, which the next start completes before looking at any credential.
 */
async function setAside(layout: StateLayout, stamp: string): Promise<string> {
  const partial = layout.foreignDir(stamp, true);
  await mkdir(partial, { recursive: true, mode: 0o700 });
  for (const name of layout.fleetWide) {
    await copyFile(join(layout.root, name), join(partial, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  return completeMove(layout, partial);
}

async function finishSettingAside(layout: StateLayout): Promise<void> {
  const names = await readdir(layout.root).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(FOREIGN_PREFIX) && name.endsWith(PARTIAL_SUFFIX)) await completeMove(layout, join(layout.root, name));
  }
}

async function completeMove(layout: StateLayout, partial: string): Promise<string> {
  const keep = new Set(layout.fleetWide);
  for (const name of await readdir(layout.root)) {
    if (keep.has(name) || name.startsWith(FOREIGN_PREFIX)) continue;
    await rename(join(layout.root, name), join(partial, name));
  }
  await syncDirectory(partial);
  const done = partial.slice(0, -PARTIAL_SUFFIX.length);
  await rename(partial, done);
  await syncDirectory(layout.root);
  return done;
}
