/**
 * Test-only preload (`node --import timer-tap.js`): every time a timer of less than a minute
 * fires, appends `{at, kind, delayMs, origin}` as a JSON line to the file named by
 * FLEETCERT_TEST_TIMER_TAP. Nothing in the product knows about it: it wraps setTimeout and
 * setInterval (global and node:timers) before the program loads, so the idle-agent test can
 * count what wakes the process, and name who asked.
 */
import { appendFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import timers from 'node:timers';

const file = process.env.FLEETCERT_TEST_TIMER_TAP;
const MINUTE_MS = 60_000;

export interface TimerFiring {
  readonly at: number;
  readonly kind: 'setTimeout' | 'setInterval';
  readonly delayMs: number;
  /** The first stack frames where the timer was set. */
  readonly origin: string;
}

if (file) {
  for (const kind of ['setTimeout', 'setInterval'] as const) {
    const original = timers[kind] as (callback: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) => NodeJS.Timeout;
    const wrapped = (callback: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) => {
      const delayMs = Math.max(1, Number(ms) || 0);
      if (typeof callback !== 'function' || delayMs >= MINUTE_MS) return original(callback, ms, ...rest);
      const origin = (new Error().stack ?? '')
        .split('\n')
        .slice(2, 5)
        .map((l) => l.trim())
        .join(' < ');
      return original(
        (...args: unknown[]) => {
          appendFileSync(file, `${JSON.stringify({ at: Date.now(), kind, delayMs, origin } satisfies TimerFiring)}\n`);
          callback(...args);
        },
        ms,
        ...rest,
      );
    };
    Object.assign(timers, { [kind]: wrapped });
    Object.assign(globalThis, { [kind]: wrapped });
  }
  syncBuiltinESMExports();
}
