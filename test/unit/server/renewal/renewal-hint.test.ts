import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { COHORT_SPREAD_FRACTION, renewalHint, spreadRenewalWindow } from '#server/renewal/renewal-hint.js';
import { renewalInfoSchema, renewalInfoWindow } from '#shared/protocol/renewal-info.js';
import { renewalDue, serialJitter } from '#shared/renewal/renewal-due.js';
import { defaultRenewalWindow } from '#shared/renewal/renewal-window.js';

const cert = { serial: '0a1b', notBefore: new Date('2026-06-01T00:00:00Z'), notAfter: new Date('2026-07-01T00:00:00Z'), renewFrom: null };

test("the default hint: the serial's slice of the cohort's spread, never after the agent's own moment", () => {
  const hint = renewalHint(cert);
  const window = spreadRenewalWindow(cert, cert.serial);
  assert.equal(hint, {
    serial: '0a1b',
    suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
    reason: 'default',
  });
  assert.ok(renewalInfoSchema.safeParse(hint).success);
  assert.equal(renewalInfoWindow(hint), window, 'reads back the same');
  assert.equal(renewalHint(cert), hint, 'the same answer every time');
  const latest = defaultRenewalWindow(cert).end.getTime();
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
  assert.ok(window.end.getTime() <= latest && window.start.getTime() >= latest - COHORT_SPREAD_FRACTION * lifetime);
  assert.is.not(spreadRenewalWindow(cert, '0a1c').end.getTime(), window.end.getTime(), 'another serial, another slice');
});

/** Random-looking 16-byte serials, the same on every run. */
const cohortSerials = (n: number) =>
  Array.from({ length: n }, (_, i) => createHash('sha256').update(`serial ${i}`).digest().subarray(0, 16).toString('hex'));

/** When each certificate of a cohort renews: the server's hint, then the agent's rule and jitter. */
function cohortRenewals(validity: { notBefore: Date; notAfter: Date }, serials: string[]): number[] {
  return serials.map((serial) => {
    const serverWindow = renewalInfoWindow(renewalHint({ serial, ...validity, renewFrom: null }));
    return renewalDue({ now: validity.notBefore, validity, serverWindow, random: serialJitter(serial) }).dueFrom.getTime();
  });
}

/** Largest bucket and mean per bucket over the span the renewals cover. */
function histogram(moments: number[], bucketMs: number): { peak: number; mean: number } {
  const counts = new Map<number, number>();
  for (const t of moments) counts.set(Math.floor(t / bucketMs), (counts.get(Math.floor(t / bucketMs)) ?? 0) + 1);
  const keys = [...counts.keys()];
  const span = Math.max(...keys) - Math.min(...keys) + 1;
  return { peak: Math.max(...counts.values()), mean: moments.length / span };
}

test('10,000 certificates issued in the same second: spread over days, no minute with more than 0.1% of them', () => {
  const validity = { notBefore: new Date('2026-06-01T00:00:00Z'), notAfter: new Date('2026-07-01T00:00:00Z') };
  const moments = cohortRenewals(validity, cohortSerials(10_000));
  const perMinute = histogram(moments, 60_000);
  assert.ok(perMinute.peak <= 10, `peak ${perMinute.peak} renewals in one minute`);
  const perHour = histogram(moments, 3_600_000);
  assert.ok(perHour.peak <= 2 * perHour.mean, `peak ${perHour.peak} per hour, mean ${perHour.mean.toFixed(1)}`);
  const spanHours = (Math.max(...moments) - Math.min(...moments)) / 3_600_000;
  assert.ok(spanHours > 70, `spread over ${spanHours.toFixed(1)} h`);
  const latest = defaultRenewalWindow(validity).end.getTime();
  assert.ok(
    moments.every((t) => t <= latest),
    'never later than the agent alone would renew',
  );
});

test('the same cohort with 30-minute certificates (fleet-sim --renewal-storm): peak second <= 2x the mean', () => {
  const validity = { notBefore: new Date('2026-06-01T00:00:00Z'), notAfter: new Date('2026-06-01T00:30:00Z') };
  const perSecond = histogram(cohortRenewals(validity, cohortSerials(10_000)), 1000);
  assert.ok(perSecond.peak <= 2 * perSecond.mean, `peak ${perSecond.peak}/s, mean ${perSecond.mean.toFixed(1)}/s`);
});

test("an operator's renew-now is a window at that moment", () => {
  const hint = renewalHint({ ...cert, renewFrom: new Date('2026-06-03T10:00:00Z') });
  assert.equal(hint.suggestedWindow, { start: '2026-06-03T10:00:00.000Z', end: '2026-06-03T10:00:00.000Z' });
  assert.is(hint.reason, 'operator');
  assert.ok(renewalInfoSchema.safeParse(hint).success);
});

test('the schema the agent parses with refuses what it should', () => {
  const ok = renewalHint(cert);
  const bad = [
    { ...ok, serial: 'XYZ' },
    { ...ok, reason: 'whim' },
    { ...ok, suggestedWindow: { start: ok.suggestedWindow.end, end: ok.suggestedWindow.start } },
    { ...ok, suggestedWindow: { start: 'soon', end: ok.suggestedWindow.end } },
    { ...ok, explanation: 'x'.repeat(300) },
  ];
  for (const b of bad) assert.not.ok(renewalInfoSchema.safeParse(b).success, JSON.stringify(b).slice(0, 120));
});

test.run();
