/**
 * Who holds the renewal lock, told apart from whoever has the same pid now. A pid alone says
 * nothing after a power cut: boards boot deterministically, so the recorded pid is often alive
 * again (it may be our own). A holder is therefore the pid, the kernel's boot id
 * (/proc/sys/kernel/random/boot_id, new at every boot) and the process start time (field 22 of
 * /proc/<pid>/stat, in clock ticks since boot: differs when the pid was reused).
 *
 * Where /proc lacks something (not Linux, a restricted container) the missing fact is absent and
 * the judgement uses what is left; with neither boot id nor start time it is the plain pid
 * check, which docs/OPERATIONS.md describes.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export interface LockHolder {
  readonly pid: number;
  readonly bootId: string | undefined;
  readonly startTime: string | undefined;
  /** Random, new for every lock taken: names this lock instance (renewal-lock.ts), never reused. */
  readonly nonce?: string;
}

/** What the system says now about the current boot and the holder's pid. */
export interface HolderFacts {
  readonly bootId: string | undefined;
  readonly pidAlive: boolean;
  /** Start time of the process that has the holder's pid now (undefined: gone or unknown). */
  readonly startTime: string | undefined;
}

export type StaleReason = 'unknown_holder' | 'another_boot' | 'holder_gone' | 'pid_reused';

const holderFile = z.object({
  pid: z.number().int().positive(),
  bootId: z.string().max(64).optional(),
  startTime: z.string().max(32).optional(),
  nonce: z
    .string()
    .regex(/^[0-9a-f]{8,64}$/)
    .optional(),
});

export function formatHolder(holder: LockHolder): string {
  const { pid, bootId, startTime, nonce } = holder;
  return `${JSON.stringify({ pid, ...(bootId ? { bootId } : {}), ...(startTime ? { startTime } : {}), ...(nonce ? { nonce } : {}) })}\n`;
}

/**
 * The holder a lock file names, or undefined when it is not one this version wrote (a torn
 * file, or the bare pid an older agent wrote: it cannot say from which boot, so it is stale).
 */
export function parseHolder(text: string): LockHolder | undefined {
  try {
    const parsed = holderFile.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    const { pid, bootId, startTime, nonce } = parsed.data;
    return { pid, bootId, startTime, ...(nonce ? { nonce } : {}) };
  } catch {
    return undefined;
  }
}

/** Why this lock no longer protects anything, or undefined when its holder may still be renewing (pure). */
export function staleReason(holder: LockHolder | undefined, now: HolderFacts): StaleReason | undefined {
  if (!holder) return 'unknown_holder';
  if (holder.bootId && now.bootId && holder.bootId !== now.bootId) return 'another_boot';
  if (!now.pidAlive) return 'holder_gone';
  if (holder.startTime && now.startTime && holder.startTime !== now.startTime) return 'pid_reused';
  return undefined;
}

export function currentBootId(procRoot = '/proc'): string | undefined {
  try {
    return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
export function processStartTime(pid: number, procRoot = '/proc'): string | undefined {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[22 - 3];
    return start && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function thisProcess(procRoot = '/proc'): LockHolder {
  return { pid: process.pid, bootId: currentBootId(procRoot), startTime: processStartTime(process.pid, procRoot) };
}

export function factsAbout(holder: LockHolder, procRoot = '/proc'): HolderFacts {
  return { bootId: currentBootId(procRoot), pidAlive: isProcessAlive(holder.pid), startTime: processStartTime(holder.pid, procRoot) };
}
