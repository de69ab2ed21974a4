import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clockIsPlausible, waitForClock } from '../../../../agent/clock/wait-for-clock.js';
import { silentLogger } from '../../../../shared/log/logger.js';

const floor = new Date('2026-11-01T00:00:00Z');

test('a clock before the install time is not plausible (a board booting in 1970)', () => {
  assert.not.ok(clockIsPlausible(new Date('1970-01-01T00:00:05Z'), floor));
  assert.ok(clockIsPlausible(new Date('2026-11-22T10:00:00Z'), floor));
});

test('waits until NTP sets the clock, without sleeping for real', async () => {
  const readings = [new Date('1970-01-01T00:00:05Z'), new Date('1970-01-01T00:00:07Z'), new Date('2026-11-22T10:00:00Z')];
  let sleeps = 0;
  const ok = await waitForClock({ floor, maxWaitSeconds: 60, log: silentLogger, now: () => readings[Math.min(sleeps, 2)]!, sleep: async () => void (sleeps += 1) });
  assert.ok(ok);
  assert.is(sleeps, 2);
  const never = await waitForClock({ floor, maxWaitSeconds: 0, log: silentLogger, now: () => readings[0]!, sleep: async () => undefined });
  assert.not.ok(never, 'gives up after the bound');
});

test.run();
