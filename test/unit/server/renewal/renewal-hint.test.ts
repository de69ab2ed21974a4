import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renewalHint } from '#server/renewal/renewal-hint.js';
import { renewalInfoSchema } from '#shared/protocol/renewal-info.js';
import { defaultRenewalWindow } from '#shared/renewal/renewal-window.js';

const cert = { serial: '0a1b', notBefore: new Date('2026-06-01T00:00:00Z'), notAfter: new Date('2026-07-01T00:00:00Z'), renewFrom: null };

test('the default hint is the window the agent would compute itself', () => {
  const hint = renewalHint(cert);
  const window = defaultRenewalWindow(cert);
  assert.equal(hint, {
    serial: '0a1b',
    suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
    reason: 'default',
  });
  assert.ok(renewalInfoSchema.safeParse(hint).success);
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
