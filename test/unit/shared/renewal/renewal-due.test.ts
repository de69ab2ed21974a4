/** The one rule for "renewal is due", with fixed dates. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renewalDue, serialJitter } from '#shared/renewal/renewal-due.js';

const d = (s: string) => new Date(s);
// 30 days: the default window is [2026-06-19T12:00, 2026-06-21T00:00].
const validity = { notBefore: d('2026-06-01T00:00:00Z'), notAfter: d('2026-07-01T00:00:00Z') };

test('default window: due from the chosen point in it, not before', () => {
  const at = (now: string, r: number) => renewalDue({ now: d(now), validity, random: () => r });
  assert.equal(at('2026-06-20T23:59:59Z', 0), {
    due: false,
    dueFrom: d('2026-06-21T00:00:00Z'),
    window: { start: d('2026-06-19T12:00:00Z'), end: d('2026-06-21T00:00:00Z') },
    source: 'default',
  });
  assert.is(at('2026-06-21T00:00:00Z', 0).due, true);
  assert.is(at('2026-06-20T06:00:00Z', 0.5).due, true);
  assert.is(at('2026-06-19T11:59:59Z', 0.999999).due, false, 'never before the window');
});

test("the server's window wins (an operator's renew-now); a reversed one is ignored", () => {
  const serverWindow = { start: d('2026-06-02T00:00:00Z'), end: d('2026-06-02T00:00:00Z') };
  const due = renewalDue({ now: d('2026-06-02T00:00:00Z'), validity, serverWindow, random: () => 0.3 });
  assert.equal([due.due, due.source, due.dueFrom], [true, 'server', serverWindow.start]);
  const reversed = renewalDue({
    now: d('2026-06-03T00:00:00Z'),
    validity,
    serverWindow: { start: d('2026-06-05T00:00:00Z'), end: d('2026-06-02T00:00:00Z') },
    random: () => 0,
  });
  assert.equal([reversed.due, reversed.source], [false, 'default']);
});

test('serial jitter: the same serial always gives the same point; serials spread over [0, 1)', () => {
  assert.is(serialJitter('0a1b2c')(), serialJitter('0A1B2C')());
  const values = Array.from({ length: 200 }, (_, i) => serialJitter(i.toString(16).padStart(32, '0'))());
  assert.ok(values.every((v) => v >= 0 && v < 1));
  assert.ok(Math.min(...values) < 0.1 && Math.max(...values) > 0.9, 'spread over the window');
});

test.run();
