/** The renewal schedule's decisions, driven by check() with a fixed clock: no cron, no sleeps. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FleetcertError } from '#shared/errors.js';
import { silentLogger, type Logger } from '#shared/log/logger.js';
import { RENEWAL_BACKOFF } from '#shared/retry/backoff.js';
import { RenewalInProgress } from '#agent/renewal/renewal-lock.js';
import { nextCheckAt, RenewalScheduler, type RenewalHint } from '#agent/renewal/renewal-scheduler.js';
import { memoryLog } from '../../../helpers/memory-log.js';

const d = (s: string) => new Date(s);
// 30 days: the default window is [2026-06-19T12:00, 2026-06-21T00:00].
const live = { serial: 'aa01', notBefore: d('2026-06-01T00:00:00Z'), notAfter: d('2026-07-01T00:00:00Z') };

function harness(
  opts: {
    hint?: () => RenewalHint | undefined;
    fail?: () => Error | undefined;
    readValidity?: () => Promise<typeof live>;
    log?: Logger;
    random?: () => number;
  } = {},
) {
  const state = {
    now: d('2026-06-02T00:00:00Z'),
    renewals: 0,
    hintCalls: 0,
    renewedAt: [] as Date[],
    timers: [] as { delayMs: number; fire: () => void; cancelled: boolean }[],
  };
  const scheduler = new RenewalScheduler({
    cronExpression: '*/15 * * * *',
    readValidity: opts.readValidity ?? (async () => live),
    ...(opts.hint
      ? {
          readHint: async () => {
            state.hintCalls += 1;
            return opts.hint!();
          },
        }
      : {}),
    renew: async () => {
      state.renewals += 1;
      state.renewedAt.push(state.now);
      const err = opts.fail?.();
      if (err) throw err;
    },
    onNewCertificate: async () => undefined,
    backoff: RENEWAL_BACKOFF,
    log: opts.log ?? silentLogger,
    random: opts.random ?? (() => 0),
    now: () => state.now,
    setTimer: (fire, delayMs) => {
      const timer = { delayMs, fire, cancelled: false };
      state.timers.push(timer);
      return { cancel: () => void (timer.cancelled = true) };
    },
  });
  return { scheduler, state };
}

test('without a hint: nothing before the default window, one renewal once it is due', async () => {
  const { scheduler, state } = harness();
  await scheduler.check();
  assert.is(state.renewals, 0);
  state.now = d('2026-06-20T23:59:59Z');
  await scheduler.check();
  assert.is(state.renewals, 0, 'random() = 0 picks the end of the window');
  state.now = d('2026-06-21T00:00:00Z');
  await scheduler.check();
  assert.is(state.renewals, 1);
});

test("an operator's window from the server wins, and is asked for again only once stale", async () => {
  let window = { start: d('2026-06-25T00:00:00Z'), end: d('2026-06-25T00:00:00Z') };
  const { scheduler, state } = harness({ hint: () => ({ serial: 'aa01', window, reason: 'default', retryAfterSeconds: 3600 }) });
  await scheduler.check();
  await scheduler.check();
  assert.is(state.hintCalls, 1, 'fresh for its Retry-After');
  assert.is(state.renewals, 0);
  window = { start: d('2026-06-02T00:30:00Z'), end: d('2026-06-02T00:30:00Z') };
  state.now = d('2026-06-02T00:59:00Z');
  await scheduler.check();
  assert.is(state.renewals, 0, 'still the old answer');
  state.now = d('2026-06-02T01:00:00Z');
  await scheduler.check();
  assert.is(state.hintCalls, 2);
  assert.is(state.renewals, 1, 'pulled forward: renewed weeks before the default window');
});

test('a hint for another certificate is ignored; a failed request keeps the default and retries later', async () => {
  let hint: RenewalHint | undefined = {
    serial: 'ff',
    window: { start: d('2026-06-01T00:00:00Z'), end: d('2026-06-01T00:00:00Z') },
    reason: 'operator',
    retryAfterSeconds: 60,
  };
  const { scheduler, state } = harness({ hint: () => hint });
  await scheduler.check();
  assert.is(state.renewals, 0);
  state.now = d('2026-06-02T00:14:59Z');
  await scheduler.check();
  assert.is(state.hintCalls, 1, 'an unusable answer is asked for again no sooner than 15 min');
  hint = undefined;
  state.now = d('2026-06-02T00:15:00Z');
  await scheduler.check();
  assert.is(state.hintCalls, 2);
  state.now = d('2026-06-02T00:29:00Z');
  await scheduler.check();
  assert.is(state.hintCalls, 2, 'nor after a failed request');
  assert.is(state.renewals, 0);
});

test('transport failures back off 1 min -> 10 min; a refusal waits 15 min (no hot loop)', async () => {
  let failure: Error | undefined = new FleetcertError('server_unreachable', 'down');
  const { scheduler, state } = harness({ fail: () => failure });
  state.now = d('2026-06-21T00:00:00Z');
  await scheduler.check();
  assert.is(state.renewals, 1);
  state.now = d('2026-06-21T00:00:59Z');
  await scheduler.check();
  assert.is(state.renewals, 1, 'waits the first backoff step');
  state.now = d('2026-06-21T00:01:00Z');
  await scheduler.check();
  assert.is(state.renewals, 2);
  state.now = d('2026-06-21T00:10:59Z');
  await scheduler.check();
  assert.is(state.renewals, 2, 'then 10 minutes');
  failure = new FleetcertError('enrollment_refused', 'renewal refused (cert_expired)');
  state.now = d('2026-06-21T00:11:00Z');
  await scheduler.check();
  assert.is(state.renewals, 3);
  for (const t of ['2026-06-21T00:12:00Z', '2026-06-21T00:20:00Z', '2026-06-21T00:25:59Z']) {
    state.now = d(t);
    await scheduler.check();
  }
  assert.is(state.renewals, 3, 'a refusal is not retried for 15 minutes');
  failure = undefined;
  state.now = d('2026-06-21T00:26:00Z');
  await scheduler.check();
  assert.is(state.renewals, 4);
});

test('a check that throws (unreadable state) is logged, never an unhandled rejection, and the next one runs', async () => {
  let calls = 0;
  const { scheduler } = harness({
    readValidity: async () => {
      calls += 1;
      throw new Error('EIO');
    },
  });
  await scheduler.check();
  await scheduler.check();
  assert.is(calls, 2);
});

test('an operator request skips the window and the backoff', async () => {
  const { scheduler, state } = harness({ fail: () => new FleetcertError('server_unreachable', 'down') });
  scheduler.requestNow('test');
  await new Promise((r) => setTimeout(r, 10));
  assert.is(state.renewals, 1);
  scheduler.requestNow('again');
  await new Promise((r) => setTimeout(r, 10));
  assert.is(state.renewals, 2);
});

test('a renewal blocked by the lock is logged at every check (renewal_skipped, with the holder), and not backed off', async () => {
  const logged = memoryLog();
  const holder = { pid: 4242, bootId: 'boot-a', startTime: '1000' };
  const { scheduler, state } = harness({ fail: () => new RenewalInProgress(holder, '/state/renew.lock'), log: logged.log });
  state.now = d('2026-06-21T00:00:00Z');
  await scheduler.check();
  await scheduler.check();
  assert.is(state.renewals, 2, 'tried again at the next check: the holder may be done');
  const skipped = logged.events('renewal_skipped');
  assert.is(skipped.length, 2);
  assert.equal(skipped[0]!.holder, holder);
  assert.is(skipped[0]!.reason, 'renewal_in_progress');
});

const settle = () => new Promise((r) => setTimeout(r, 5));

test('nextCheckAt: the earliest moment still ahead, never later than the safety-net tick', () => {
  const now = d('2026-06-20T10:30:00Z');
  const tick = d('2026-06-20T10:45:00Z');
  assert.equal(nextCheckAt({ now, tick }), tick);
  assert.equal(nextCheckAt({ now, tick, plannedAt: d('2026-06-20T10:40:48Z') }), d('2026-06-20T10:40:48Z'));
  assert.equal(nextCheckAt({ now, tick, plannedAt: d('2026-06-20T10:00:00Z') }), tick, 'a past plan (renewal failed) is no reason to wake');
  assert.equal(
    nextCheckAt({
      now,
      tick,
      plannedAt: d('2026-06-21T00:00:00Z'),
      nextAttemptAt: d('2026-06-20T10:31:00Z'),
      hintFreshUntil: d('2026-06-20T10:35:00Z'),
    }),
    d('2026-06-20T10:31:00Z'),
  );
});

test('renews at its planned moment, not at the next shared 15-minute tick (a cohort would renew in one second)', async () => {
  // random 0.37: the moment is 13 h 19 min 12 s before the end of the default window.
  const { scheduler, state } = harness({ random: () => 0.37 });
  const planned = d('2026-06-20T10:40:48Z');
  state.now = d('2026-06-20T10:30:00Z');
  scheduler.start('aa01');
  await settle();
  assert.is(state.renewals, 0);
  const armed = state.timers.at(-1)!;
  assert.is(armed.delayMs, planned.getTime() - state.now.getTime(), 'asleep until the planned moment, before the 10:45 tick');
  state.now = planned;
  armed.fire();
  await settle();
  assert.equal(state.renewedAt, [planned]);
  assert.is(state.timers.filter((t) => !t.cancelled).length, 1, 'one timer at a time');
  scheduler.stop();
  assert.ok(
    state.timers.every((t) => t.cancelled),
    'stop() leaves nothing armed',
  );
});

test('idle, far from the window: one wake-up per safety-net tick (every 15 min), no polling', async () => {
  const { scheduler, state } = harness();
  state.now = d('2026-06-02T00:00:30Z');
  scheduler.start('aa01');
  await settle();
  for (let i = 0; i < 8; i += 1) {
    const armed = state.timers.at(-1)!;
    assert.ok(armed.delayMs >= 60_000 || i === 0, `woke after ${armed.delayMs} ms`);
    state.now = new Date(state.now.getTime() + armed.delayMs);
    armed.fire();
    await settle();
  }
  assert.is(state.now.toISOString(), '2026-06-02T02:00:00.000Z', 'eight quarter-hour ticks in two hours');
  assert.is(state.renewals, 0);
  scheduler.stop();
});

test.run();
