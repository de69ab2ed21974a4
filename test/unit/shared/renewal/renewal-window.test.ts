import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultRenewalWindow, isDue, renewalTime } from '#shared/renewal/renewal-window.js';

const d = (s: string) => new Date(s);
const thirtyDays = { notBefore: d('2026-06-01T00:00:00Z'), notAfter: d('2026-07-01T00:00:00Z') };

test('30-day certificate: renew at 2/3 (day 20) minus up to 1.5 days of jitter', () => {
  assert.equal(defaultRenewalWindow(thirtyDays), { start: d('2026-06-19T12:00:00Z'), end: d('2026-06-21T00:00:00Z') });
  assert.equal(
    renewalTime(thirtyDays, () => 0),
    d('2026-06-21T00:00:00Z'),
  );
  assert.equal(
    renewalTime(thirtyDays, () => 0.5),
    d('2026-06-20T06:00:00Z'),
  );
  assert.ok(renewalTime(thirtyDays, () => 0.999999) > d('2026-06-19T12:00:00Z'));
});

test('10 days or less: at 1/2; a 60-second test certificate renews at 30 s minus up to 3 s', () => {
  const tenDays = { notBefore: d('2026-06-01T00:00:00Z'), notAfter: d('2026-06-11T00:00:00Z') };
  assert.equal(
    renewalTime(tenDays, () => 0),
    d('2026-06-06T00:00:00Z'),
  );
  const sixty = { notBefore: d('2026-06-01T00:00:00Z'), notAfter: d('2026-06-01T00:01:00Z') };
  assert.equal(defaultRenewalWindow(sixty), { start: d('2026-06-01T00:00:27Z'), end: d('2026-06-01T00:00:30Z') });
});

test("the server's window wins; a nonsensical one is ignored", () => {
  const hint = { start: d('2026-06-05T00:00:00Z'), end: d('2026-06-05T01:00:00Z') };
  assert.equal(
    renewalTime(thirtyDays, () => 0, hint),
    hint.end,
  );
  assert.equal(
    renewalTime(thirtyDays, () => 0.5, hint),
    d('2026-06-05T00:30:00Z'),
  );
  assert.equal(
    renewalTime(thirtyDays, () => 0, { start: hint.end, end: hint.start }),
    d('2026-06-21T00:00:00Z'),
  );
});

test('due at or after the moment, not before', () => {
  const at = d('2026-06-21T00:00:00Z');
  assert.not.ok(isDue(d('2026-06-20T23:59:59Z'), at));
  assert.ok(isDue(at, at));
});

test.run();
