/** The takeover heuristic, with fixed times. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SessionChurn } from '#server/sessions/session-churn.js';

const at = (seconds: number) => new Date(Date.UTC(2026, 10, 29, 12, 0, seconds));

test('five onlines within a minute flag the device once per window; a device reconnecting now and then never', () => {
  const churn = new SessionChurn({ windowMs: 60_000, threshold: 5 });
  const flags = [0, 5, 10, 15, 20, 25, 30].map((s) => churn.online('fighting', at(s)));
  assert.equal(flags, [undefined, undefined, undefined, undefined, 5, undefined, undefined]);
  for (const s of [35, 40, 45, 50, 55, 60, 65, 70, 75]) assert.is(churn.online('fighting', at(s)), undefined, `${s} s`);
  assert.is(churn.online('fighting', at(80)), 5, 'still fighting a window after the flag: flagged again');
  for (const s of [0, 20, 40, 60, 80, 100, 120]) assert.is(churn.online('calm', at(s)), undefined);
});
test.run();
