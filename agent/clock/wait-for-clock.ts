/**
 * Boards without an RTC boot in 1970 or at the image's date; TLS then sees every certificate
 * as not yet valid. Before any TLS the agent waits (bounded, logged) until the clock is past a
 * floor: the time this agent was installed, which no correct clock can be before.
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../shared/log/logger.js';

/** The install time of the agent itself: a lower bound for any plausible "now". */
export function clockFloor(): Date {
  try {
    return statSync(fileURLToPath(import.meta.url)).mtime;
  } catch {
    return new Date('2026-01-01T00:00:00Z');
  }
}

export function clockIsPlausible(now: Date, floor: Date): boolean {
  return now.getTime() >= floor.getTime();
}

export interface WaitForClockOptions {
  readonly floor: Date;
  readonly maxWaitSeconds: number;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** True once the clock is plausible; false if it still is not after `maxWaitSeconds`. */
export async function waitForClock(options: WaitForClockOptions): Promise<boolean> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + options.maxWaitSeconds * 1000;
  let warned = false;
  while (!clockIsPlausible(now(), options.floor)) {
    if (!warned) {
      options.log.warn('waiting for the clock to be set (NTP) before any TLS', { now: now().toISOString(), notBefore: options.floor.toISOString() });
      warned = true;
    }
    if (Date.now() >= deadline) return false;
    await sleep(2_000);
  }
  if (warned) options.log.info('the clock is set', { now: now().toISOString() });
  return true;
}
