/**
 * Boards without an RTC boot in 1970 or at the image's date; TLS then sees every certificate
 * as not yet valid. Before any TLS the agent waits (bounded, logged) until the clock is past a
 * floor (clock-floor.ts: the build time, raised by the last time known to be right).
 */
import type { Logger } from '../../shared/log/logger.js';
import type { ClockFloor } from './clock-floor.js';

export function clockIsPlausible(now: Date, floor: Date): boolean {
  return now.getTime() >= floor.getTime();
}

export interface WaitForClockOptions {
  readonly floor: ClockFloor;
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
  while (!clockIsPlausible(now(), options.floor.floor)) {
    if (!warned) {
      options.log.warn('waiting for the clock to be set (NTP) before any TLS', {
        event: 'clock_waiting',
        now: now().toISOString(),
        notBefore: options.floor.floor.toISOString(),
        floorSource: options.floor.source,
      });
      warned = true;
    }
    if (Date.now() >= deadline) return false;
    await sleep(2_000);
  }
  if (warned) options.log.info('the clock is set', { event: 'clock_set', now: now().toISOString() });
  return true;
}
