import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abortableSleep } from '#shared/retry/abortable-sleep.js';
import { backoffSeconds, RENEWAL_BACKOFF } from '#shared/retry/backoff.js';

test('1 min -> 10 min -> 100 min -> 6 h cap; jitter only shortens, by at most 20%', () => {
  const none = () => 0;
  assert.equal(
    [0, 1, 2, 3, 9].map((a) => backoffSeconds(a, RENEWAL_BACKOFF, none)),
    [60, 600, 6000, 21600, 21600],
  );
  assert.is(
    backoffSeconds(1, RENEWAL_BACKOFF, () => 0.999999),
    600 * (1 - 0.2 * 0.999999),
  );
  for (let i = 0; i < 100; i += 1) {
    const s = backoffSeconds(2, RENEWAL_BACKOFF);
    assert.ok(s > 4800 && s <= 6000, String(s));
  }
});

test('abortableSleep: ends at once with interrupted when the signal aborts, resolves otherwise', async () => {
  const controller = new AbortController();
  const sleep = abortableSleep(controller.signal);
  const started = Date.now();
  const pending = sleep(60).then(
    () => 'slept',
    (err: { code?: string }) => err.code,
  );
  setTimeout(() => controller.abort('SIGTERM'), 20);
  assert.is(await pending, 'interrupted');
  assert.ok(Date.now() - started < 1_000);
  assert.is(await abortableSleep(new AbortController().signal)(0.01).then(() => 'slept'), 'slept');
  assert.is(
    await sleep(1).then(
      () => 'slept',
      (err: { code?: string }) => err.code,
    ),
    'interrupted',
    'an aborted signal interrupts at once',
  );
});

test.run();
