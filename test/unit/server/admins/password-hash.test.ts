/** Console password hashes: scrypt with its parameters stored, and nothing but the password verifies. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DUMMY_PASSWORD_HASH, hashPassword, SCRYPT_PARAMS, verifyPassword } from '#server/admins/password-hash.js';

test('hash and verify: the parameters travel with the hash; salts differ; only the password verifies', async () => {
  const a = await hashPassword('correct horse battery staple');
  const b = await hashPassword('correct horse battery staple');
  assert.match(
    a,
    new RegExp(`^scrypt\\$N=${SCRYPT_PARAMS.N},r=${SCRYPT_PARAMS.r},p=${SCRYPT_PARAMS.p}\\$[A-Za-z0-9+/=]{24}\\$[A-Za-z0-9+/=]{44}$`),
  );
  assert.is.not(a, b);
  assert.ok(await verifyPassword('correct horse battery staple', a));
  assert.not.ok(await verifyPassword('correct horse battery stapl', a));
  assert.not.ok(await verifyPassword('correct horse battery staple', DUMMY_PASSWORD_HASH));
});

test('a tampered or absurd stored hash verifies nothing and costs nothing', async () => {
  const good = await hashPassword('correct horse battery staple');
  const started = performance.now();
  for (const bad of [
    good.replace('N=32768', 'N=1073741824'), // 1 TiB of scrypt memory
    good.replace('N=32768', 'N=1000'), // not a power of two
    good.replace('p=1', 'p=99'),
    'plain-text-password',
    '',
  ]) {
    assert.not.ok(await verifyPassword('correct horse battery staple', bad), bad);
  }
  assert.ok(performance.now() - started < 50, 'refused before any scrypt work');
  assert.not.ok(await verifyPassword('x'.repeat(2000), good), 'over-long passwords are refused');
});

test.run();
