/**
 * The earliest time the device clock may plausibly show: the later of the agent's build time
 * (build-time.ts) and the last time known to be right, which the agent saves in its state
 * directory after TLS worked (as systemd-timesyncd keeps /var/lib/systemd/timesync/clock).
 * A board without an RTC that boots in 1970, or at its image's date, is below it.
 */
import { open } from 'node:fs/promises';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';
import { BUILD_TIME } from './build-time.js';

export interface ClockFloor {
  readonly floor: Date;
  readonly source: 'build' | 'saved';
}

/** max(build time, saved time) (pure). */
export function clockFloor(buildTime: Date, saved: Date | undefined): ClockFloor {
  return saved && saved.getTime() > buildTime.getTime() ? { floor: saved, source: 'saved' } : { floor: buildTime, source: 'build' };
}

export const AGENT_BUILD_TIME = new Date(BUILD_TIME);

/** A saved file is one ISO timestamp; anything else (torn, garbage, huge) is ignored. */
const MAX_CLOCK_FILE_BYTES = 64;

export async function readSavedTime(path: string): Promise<Date | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const { buffer, bytesRead } = await handle.read({ buffer: Buffer.alloc(MAX_CLOCK_FILE_BYTES), position: 0 });
    const text = buffer.subarray(0, bytesRead).toString('utf8').trim();
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(text)) return undefined;
    const time = new Date(text);
    return Number.isNaN(time.getTime()) ? undefined : time;
  } finally {
    await handle.close();
  }
}

export async function currentClockFloor(path: string): Promise<ClockFloor> {
  return clockFloor(AGENT_BUILD_TIME, await readSavedTime(path));
}

/** How often a running agent refreshes the saved time, at most. */
export const SAVE_INTERVAL_MS = 3600_000;

/**
 * Saves "now" as known to be right, after something that proves it (a TLS connection, an
 * enrollment, a renewal): write new, fsync, rename. At most once per `intervalMs` per process,
 * never backwards, never failing the caller (an SD card that refuses a write is logged).
 */
export class SavedClock {
  private lastSaved: number | undefined;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly intervalMs = SAVE_INTERVAL_MS,
  ) {}

  async save(now: Date): Promise<void> {
    if (this.lastSaved !== undefined && now.getTime() - this.lastSaved < this.intervalMs) return;
    try {
      const saved = await readSavedTime(this.path);
      if (saved && saved.getTime() >= now.getTime()) return;
      await writeFileAtomic(this.path, `${now.toISOString()}\n`, { mode: 0o644 });
      this.lastSaved = now.getTime();
    } catch (err) {
      this.log.warn('could not save the last known good time', { path: this.path, err });
    }
  }
}
