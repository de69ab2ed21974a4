/**
 * What the running agent is doing, for `fleetcert-agent status` and for `renew` (which signals it):
 * `<state>/status.json`, written by `run` on each change (connection state, an error, the next
 * renewal check), atomically (write new, fsync, rename). It holds no secret (states, codes,
 * times, paths), so it is 0644; the state directory around it stays 0700. Writes are rare
 * (a state change, a new error code), not one per reconnect attempt: this is an SD card.
 * The process that wrote it is named as the renewal lock names its holder (pid, boot id, start
 * time), so a file left by an agent that has since died is told apart from a running one.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';
import type { ConnectionState } from '../mqtt/device-connection.js';
import { factsAbout, staleReason, thisProcess, type LockHolder } from '../renewal/lock-holder.js';

const CONNECTION_STATES = [
  'connecting',
  'online',
  'revoked',
  'expired',
  'untrusted',
  'clock',
  'stopped',
] as const satisfies readonly ConnectionState[];

const agentStatusSchema = z.object({
  pid: z.number().int().positive(),
  bootId: z.string().max(64).optional(),
  startTime: z.string().max(32).optional(),
  agentVersion: z.string().max(64),
  deviceId: z.string().max(64),
  startedAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  connection: z.object({ state: z.enum(CONNECTION_STATES), since: z.iso.datetime(), detail: z.string().max(300).optional() }),
  lastError: z.object({ code: z.string().max(64), message: z.string().max(300), at: z.iso.datetime() }).nullable(),
  nextRenewalCheck: z.iso.datetime().nullable(),
  token: z.object({ location: z.enum(['boot_partition', 'state_dir', 'none']), paths: z.array(z.string().max(300)).max(8) }),
});

export type AgentStatus = z.infer<typeof agentStatusSchema>;
export type AgentConnectionState = AgentStatus['connection']['state'];

/** The running agent's own status file; every update is written in order, never two at once. */
export class StatusFile {
  private status: AgentStatus;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    initial: Omit<AgentStatus, 'pid' | 'bootId' | 'startTime' | 'startedAt' | 'updatedAt'>,
    private readonly log: Logger,
    now: Date = new Date(),
  ) {
    const me = thisProcess();
    this.status = {
      pid: me.pid,
      ...(me.bootId ? { bootId: me.bootId } : {}),
      ...(me.startTime ? { startTime: me.startTime } : {}),
      startedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      ...initial,
    };
  }

  get current(): AgentStatus {
    return this.status;
  }

  connection(state: AgentConnectionState, detail: string, now: Date = new Date()): void {
    if (state === this.status.connection.state) return;
    this.update({ connection: { state, since: now.toISOString(), detail: detail.slice(0, 300) } }, now);
  }

  /** Records an error; the same code again only moves nothing (no write per retry). */
  error(code: string, message: string, now: Date = new Date()): void {
    if (this.status.lastError?.code === code) return;
    this.update({ lastError: { code: code.slice(0, 64), message: message.slice(0, 300), at: now.toISOString() } }, now);
  }

  nextRenewalCheck(at: Date | undefined, now: Date = new Date()): void {
    const next = at?.toISOString() ?? null;
    if (next === this.status.nextRenewalCheck) return;
    this.update({ nextRenewalCheck: next }, now);
  }

  /** Queues a write of the status with `patch` applied; never fails (a warning is logged instead). */
  update(patch: Partial<AgentStatus>, now: Date = new Date()): void {
    this.status = { ...this.status, ...patch, updatedAt: now.toISOString() };
    const text = JSON.stringify(this.status) + '\n';
    // Fail-soft: a status file that cannot be written must never stop the agent.
    this.writes = this.writes
      .then(() => writeFileAtomic(this.path, text, { mode: 0o644 }))
      .catch((err: unknown) => this.log.warn('could not write the status file', { event: 'status_file_failed', err }));
  }

  /** Resolves once every write queued so far is on disk (or has failed and been logged). */
  settled(): Promise<void> {
    return this.writes;
  }
}

export interface ReadStatus {
  readonly status: AgentStatus;
  /** The agent that wrote it is still running (same pid, boot and start time). */
  readonly running: boolean;
  readonly holder: LockHolder;
}

/** The status file, if there is a readable one, and whether its writer still runs. */
export async function readAgentStatus(path: string, procRoot = '/proc'): Promise<ReadStatus | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let status: AgentStatus;
  try {
    status = agentStatusSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
  const holder: LockHolder = { pid: status.pid, bootId: status.bootId, startTime: status.startTime };
  return { status, holder, running: staleReason(holder, factsAbout(holder, procRoot)) === undefined };
}

/** How long a running agent may look for the broker before `status` calls it unable to connect. */
export const CONNECT_GRACE_SECONDS = 60;

/**
 * What `status` concludes from the running agent (pure): `revoked` when the broker refuses its
 * certificate as revoked, `unable_to_connect` when it is in any other refused state or has been
 * connecting for longer than the grace, else `ok` (also when no agent runs: nothing to say).
 */
export function agentHealth(read: ReadStatus | undefined, now: Date): 'ok' | 'revoked' | 'unable_to_connect' {
  if (!read?.running) return 'ok';
  const { state, since } = read.status.connection;
  if (state === 'revoked') return 'revoked';
  if (state === 'online' || state === 'stopped') return 'ok';
  if (state === 'connecting') return now.getTime() - Date.parse(since) > CONNECT_GRACE_SECONDS * 1000 ? 'unable_to_connect' : 'ok';
  return 'unable_to_connect';
}

/**
 * Tells the running agent (SIGHUP, as the unit's ExecReload does) that the live certificate
 * changed, so it connects with it now rather than at its next check. The pid it signals, or
 * undefined when no agent runs (or it cannot be signalled: another user's).
 */
export async function notifyRunningAgent(path: string, log: Logger): Promise<number | undefined> {
  const read = await readAgentStatus(path);
  if (!read?.running || read.status.pid === process.pid) return undefined;
  try {
    process.kill(read.status.pid, 'SIGHUP');
    return read.status.pid;
  } catch (err) {
    log.warn('could not signal the running agent; it follows the new certificate at its next check', { event: 'agent_not_signalled', err });
    return undefined;
  }
}
