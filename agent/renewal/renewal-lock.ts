/**
 * One renewal at a time per device (certbot's lock.py), with a lock that cannot outlive its
 * holder: `renew.lock` names the holder (lock-holder.ts: pid, boot id, process start time, and a
 * nonce naming this lock instance); a lock whose holder is from another boot, gone, or whose pid
 * now belongs to another process is stale and is taken over.
 *
 * Atomic without a kernel lock (Node has no flock), and with no two takers:
 * - every file is written complete under a private name first and then hard-linked into place;
 *   link(2) fails when the name exists, so each name is created once, by one process;
 * - taking the free lock: link to `renew.lock`;
 * - taking over a stale lock with nonce N: link to `renew.lock.takeover-N`. Only its creator may
 *   replace the lock, and does so by rename only after re-reading that the lock still has nonce N.
 *   If that creator dies too, its marker is itself a stale holder: the next taker links
 *   `renew.lock.takeover-<its nonce>`, and so on along the chain. Markers of a nonce that is no
 *   longer in `renew.lock` can never matter again (nonces do not repeat): the holder removes them;
 * - releasing: only while `renew.lock` still carries our nonce.
 * The lock may live in the persistent state directory: nothing needs cleaning after a power cut.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { factsAbout, formatHolder, parseHolder, staleReason, thisProcess, type LockHolder } from './lock-holder.js';

/** Another renewal holds the lock; `holder` says who (undefined when it could not be read). */
export class RenewalInProgress extends FleetcertError {
  constructor(
    readonly holder: LockHolder | undefined,
    path: string,
  ) {
    super(
      'renewal_in_progress',
      `another renewal is running (${holder ? `pid ${holder.pid}` : 'a process that is taking the lock'}, lock ${path})`,
      {
        hint: 'wait for it to finish; a lock left by a process that is gone or from before a reboot is taken over by itself',
      },
    );
  }
}

export async function withRenewalLock<T>(path: string, log: Logger, work: () => Promise<T>): Promise<T> {
  const nonce = await acquire(path, log);
  try {
    return await work();
  } finally {
    await release(path, nonce);
  }
}

/** Bounds the walk along takeover markers: each link of the chain is a taker that died mid-takeover. */
const MAX_CHAIN = 16;

async function acquire(path: string, log: Logger): Promise<string> {
  const nonce = randomBytes(12).toString('hex');
  const privatePath = `${path}.${nonce}.tmp`;
  await writeFile(privatePath, formatHolder({ ...thisProcess(), nonce }), { mode: 0o600, flag: 'wx' });
  try {
    // A second round only when the lock vanished between our link and our read.
    for (let round = 0; round < 2; round += 1) {
      if (await linkExclusive(privatePath, path)) {
        await removeMarkers(path);
        return nonce;
      }
      const head = await readLock(path);
      if (!head) continue;
      let current = head;
      for (let depth = 0; depth < MAX_CHAIN; depth += 1) {
        const reason = staleReason(
          current.holder,
          current.holder ? factsAbout(current.holder) : { bootId: undefined, pidAlive: false, startTime: undefined },
        );
        if (!reason) throw new RenewalInProgress(current.holder, path);
        const marker = `${path}.takeover-${current.key}`;
        if (await linkExclusive(privatePath, marker)) {
          // We alone may replace the lock, as long as it is still the one this chain started from.
          if ((await readLock(path))?.key !== head.key) {
            await unlink(marker);
            throw new RenewalInProgress(undefined, path);
          }
          await rename(privatePath, path);
          log.warn('took over a stale renewal lock', { event: 'renewal_lock_stale', reason, holder: current.holder, lock: path });
          await removeMarkers(path);
          return nonce;
        }
        const next = await readLock(marker);
        if (!next) throw new RenewalInProgress(undefined, path); // The lock changed hands meanwhile.
        current = next;
      }
      throw new RenewalInProgress(undefined, path);
    }
    throw new RenewalInProgress(undefined, path);
  } finally {
    await unlink(privatePath).catch(() => undefined);
  }
}

async function linkExclusive(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** A lock (or marker) file: its holder, and the key naming this instance (the nonce; the inode for files older agents wrote). */
async function readLock(path: string): Promise<{ holder: LockHolder | undefined; key: string } | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { buffer, bytesRead } = await handle.read({ buffer: Buffer.alloc(512), position: 0 });
    const holder = parseHolder(buffer.subarray(0, bytesRead).toString('utf8'));
    return { holder, key: holder?.nonce ?? `i${(await handle.stat()).ino}` };
  } finally {
    await handle.close();
  }
}

/** Takeover markers of earlier lock instances: the lock now carries our nonce, so none can matter again. */
async function removeMarkers(path: string): Promise<void> {
  const prefix = `${basename(path)}.takeover-`;
  for (const name of await readdir(dirname(path))) {
    if (name.startsWith(prefix)) await unlink(join(dirname(path), name)).catch(() => undefined);
  }
}

async function release(path: string, nonce: string): Promise<void> {
  if ((await readLock(path))?.key === nonce) await unlink(path).catch(() => undefined);
}
