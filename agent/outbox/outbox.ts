/**
 * The outbox: how other programs on the device publish over the agent's connection. The broker
 * takes one connection per device identity (client id = certificate CN), so a second program
 * connecting with the device's certificate would take the agent's session over. Instead it
 * drops a message file here (`fleetcert-agent publish`, or any program that writes a file and
 * renames it into place), and the agent publishes it at QoS 1 below `devices/<id>/`, deleting
 * the file only after the broker's PUBACK. Nothing is lost when the connection moves to a new
 * certificate, drops, or the agent restarts: an unacknowledged file is simply sent again
 * (at least once, in file-name order).
 *
 * File: `<15-digit ms timestamp>-<anything>.json`, JSON {topic, payload, encoding?}, at most
 * MAX_MESSAGE_FILE_BYTES. Files that do not parse are moved to `rejected/`, never deleted.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { constants, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { FleetcertError } from '../../shared/errors.js';
import { formatIssues } from '../../shared/format-issues.js';
import { groupId } from '../../shared/fs/group-id.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';

export const MAX_MESSAGE_FILE_BYTES = 256 * 1024;
const MESSAGE_FILE = /^\d{15}-[A-Za-z0-9._-]{1,80}\.json$/;

/** A topic below `devices/<id>/`: no wildcards, no NUL, no leading slash. */
const relativeTopic = z
  .string()
  .min(1)
  .max(200)
  // oxlint-disable-next-line eslint/no-control-regex -- refusing NUL is the point
  .regex(/^[^/+#\u0000][^+#\u0000]*$/, 'a topic below devices/<id>/ without wildcards (+ #) or a leading /');

export const outboxMessageSchema = z.object({
  topic: relativeTopic,
  payload: z.string(),
  /** How `payload` is written: text (default) or base64 for binary. */
  encoding: z.enum(['utf8', 'base64']).optional(),
});
export type OutboxMessage = z.infer<typeof outboxMessageSchema>;

/** setgid (messages join the group) and sticky (members cannot remove each other's), rwx for owner and group. */
const SHARED_OUTBOX_MODE = 0o3770;

/**
 * Makes the outbox a drop box for `group`: owned by this (root) process and the group, mode 3770:
 * members create messages (setgid: the files join the group) and cannot remove or replace each
 * other's (sticky); nobody else gets in. Messages are read without following links and only when
 * they are regular files (see OutboxPublisher.read), so a member cannot make the agent read a file
 * they could not read themselves, or block it on a FIFO.
 */
export async function prepareSharedOutbox(dir: string, group: string): Promise<void> {
  const gid = await groupId(group);
  if (gid === undefined) {
    throw new FleetcertError('config_invalid', `outboxGroup "${group}": no such group`, { hint: `create it: groupadd --system ${group}` });
  }
  const uid = process.getuid?.() ?? 0;
  const made = await stat(dir).catch(() => undefined);
  // Made by the system already (tmpfiles.d, as docs/NODE-RED.md shows): nothing to change. The
  // packaged unit forbids setting setgid bits itself (RestrictSUIDSGID).
  if (made?.isDirectory() && made.uid === uid && made.gid === gid && (made.mode & 0o7777) === SHARED_OUTBOX_MODE) return;
  try {
    await mkdir(dirname(dir), { recursive: true, mode: 0o755 }); // e.g. /var/spool/fleetcert-agent: members pass through
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, uid, gid);
    await chmod(dir, SHARED_OUTBOX_MODE);
  } catch (err) {
    throw new FleetcertError(
      'config_invalid',
      `cannot make ${dir} a shared outbox for "${group}": ${(err as NodeJS.ErrnoException).code}`,
      {
        cause: err,
        hint: `let systemd make it: "d ${dir} 3770 <agent user> ${group} -" in /etc/tmpfiles.d/fleetcert-agent.conf (docs/NODE-RED.md)`,
      },
    );
  }
}

let sequence = 0;

/** Writes one message into the outbox, crash-safely; returns its file. */
export async function enqueueMessage(dir: string, message: OutboxMessage): Promise<string> {
  const parsed = outboxMessageSchema.safeParse(message);
  if (!parsed.success) throw new FleetcertError('usage', `not a message the agent can publish: ${formatIssues(parsed.error)}`);
  const body = JSON.stringify(parsed.data);
  if (Buffer.byteLength(body) > MAX_MESSAGE_FILE_BYTES)
    throw new FleetcertError('usage', `message larger than ${MAX_MESSAGE_FILE_BYTES / 1024} KiB`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  sequence += 1;
  const name = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${String(sequence).padStart(6, '0')}-${randomBytes(3).toString('hex')}.json`;
  const path = join(dir, name);
  // Group-readable: in a shared outbox the file joins the outbox's group (setgid), which the agent's user is in.
  await writeFileAtomic(path, body, { mode: 0o640 });
  return path;
}

export interface OutboxPublisherOptions {
  readonly dir: string;
  /** Publishes at QoS 1 below the device's subtree; resolves on PUBACK, rejects otherwise. */
  readonly publish: (topic: string, payload: Buffer) => Promise<void>;
  readonly log: Logger;
  /**
   * How often the directory is scanned besides file-system events (ms): a safety net for a missed
   * event, kept at a minute so an idle agent does not wake the board every few seconds.
   */
  readonly pollMs?: number;
}

export class OutboxPublisher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: OutboxPublisherOptions) {}

  async start(): Promise<void> {
    await mkdir(join(this.options.dir, 'rejected'), { recursive: true, mode: 0o700 });
    this.watcher = watch(this.options.dir, () => this.kick());
    this.watcher.on('error', (err) => this.options.log.warn('outbox watch failed; polling only', { err }));
    this.timer = setInterval(() => this.kick(), this.options.pollMs ?? 60_000);
    this.timer.unref();
    this.kick();
  }

  /** Something may be waiting (a new file, a new connection): drain now. */
  kick(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    await this.draining;
  }

  private async drain(): Promise<void> {
    const { dir, log } = this.options;
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => MESSAGE_FILE.test(n)).sort();
    for (const name of names) {
      if (this.stopped) return;
      const path = join(dir, name);
      const message = await this.read(path, name);
      if (!message) continue;
      try {
        await this.options.publish(message.topic, Buffer.from(message.payload, message.encoding ?? 'utf8'));
      } catch (err) {
        // Not connected, or no PUBACK in time: the file stays, and goes out on the next drain.
        log.debug(() => `outbox paused: ${(err as Error).message}`);
        return;
      }
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT')
          log.warn('could not remove a published outbox file; it will be sent again', { file: name, code: err.code });
      });
    }
  }

  /** The message in a file, or undefined (gone, or moved to rejected/ with a log line). */
  private async read(path: string, name: string): Promise<OutboxMessage | undefined> {
    let problem: string;
    try {
      // Never through a link, never blocking on a FIFO: the outbox may be writable by a group.
      const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const info = await file.stat();
        if (!info.isFile()) {
          problem = 'not a regular file';
        } else if (info.size > MAX_MESSAGE_FILE_BYTES) {
          problem = `larger than ${MAX_MESSAGE_FILE_BYTES} bytes`;
        } else {
          const parsed = outboxMessageSchema.safeParse(JSON.parse(await file.readFile('utf8')));
          if (parsed.success) return parsed.data;
          problem = formatIssues(parsed.error);
        }
      } finally {
        await file.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      problem = (err as Error).message.slice(0, 200);
    }
    this.options.log.warn(`outbox file rejected: ${problem}`, { file: name, movedTo: 'rejected/' });
    await rename(path, join(this.options.dir, 'rejected', name)).catch(() => undefined);
    return undefined;
  }
}
