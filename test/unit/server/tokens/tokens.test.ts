import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateFleetToken, hashSecret, parseFleetToken, secretMatches } from '#server/tokens/fleet-token.js';
import { idMatchesPattern } from '#server/tokens/token-scope.js';
import { redact } from '#shared/log/redact.js';

test('tokens: fct_<10 chars>_<43 chars>, distinct, parse back, the log redactor knows them', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i += 1) {
    const t = generateFleetToken();
    assert.match(t.token, /^fct_[a-z0-9]{10}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseFleetToken(t.token)!;
    assert.is(parsed.id, t.id);
    assert.ok(secretMatches(parsed.secret, t.secretHash));
    assert.is(redact(`token ${t.token}`), `token fct_${t.id}_[redacted]`);
    seen.add(t.id);
  }
  assert.is(seen.size, 200);
});

test('a secret matches only its own hash; malformed tokens do not parse', () => {
  const t = generateFleetToken();
  const secret = parseFleetToken(t.token)!.secret;
  assert.not.ok(secretMatches(secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A'), t.secretHash));
  assert.not.ok(secretMatches(secret, hashSecret('other')));
  assert.not.ok(secretMatches(secret, Buffer.alloc(3)));
  for (const bad of [
    '',
    'fct_',
    `fct_ABCDEFGHIJ_${'a'.repeat(43)}`,
    `fct_abcdefghij_${'a'.repeat(42)}`,
    `xct_abcdefghij_${'a'.repeat(43)}`,
  ]) {
    assert.is(parseFleetToken(bad), undefined, bad);
  }
});

test('id patterns: * and ? are wildcards, everything else literal', () => {
  assert.ok(idMatchesPattern('rpi-0001', 'rpi-*'));
  assert.ok(idMatchesPattern('anything', null));
  assert.not.ok(idMatchesPattern('xrpi-0001', 'rpi-*'));
  assert.ok(idMatchesPattern('rpi-a', 'rpi-?'));
  assert.not.ok(idMatchesPattern('rpi-ab', 'rpi-?'));
  assert.not.ok(idMatchesPattern('rpiX1', 'rpi.1'), 'a dot is a dot');
  assert.ok(idMatchesPattern('rpi.1', 'rpi.1'));
});

test.run();
