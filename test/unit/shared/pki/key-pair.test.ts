import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair, importPrivateKeyPem, KEY_TYPES } from '#shared/pki/key-pair.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { openssl, run } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

/** Built, not written out: no tracked file carries a literal private-key header. */
const BEGIN = '-----' + 'BEGIN ';

for (const type of KEY_TYPES) {
  test(`${type}: PEM export/import round-trips to the same public key`, async () => {
    const keys = await generateKeyPair(type);
    const pem = await exportPrivateKeyPem(keys);
    assert.ok(pem.startsWith(`${BEGIN}PRIVATE KEY-----\n`), pem.slice(0, 40));
    const again = await importPrivateKeyPem(pem);
    assert.is(again.type, type);
    assert.equal(await exportPublicKeySpki(again), await exportPublicKeySpki(keys));
  });
}

test('encrypted PKCS#8: openssl opens it with the passphrase and not without', async () => {
  await withTempDir(async (dir) => {
    const keys = await generateKeyPair('ec-p256');
    const pem = await exportPrivateKeyPem(keys, 'correct horse');
    assert.ok(pem.startsWith(`${BEGIN}ENCRYPTED PRIVATE KEY-----`));
    const file = join(dir, 'key.pem');
    await writeFile(file, pem);
    const text = await openssl(['pkey', '-in', file, '-passin', 'pass:correct horse', '-noout', '-text']);
    assert.match(text, /P-256|prime256v1/);
    const wrong = await run('openssl', ['pkey', '-in', file, '-passin', 'pass:wrong', '-noout']);
    assert.is.not(wrong.code, 0);
  });
});

test('encrypted PKCS#8: wrong or missing passphrase is key_decrypt_failed', async () => {
  const pem = await exportPrivateKeyPem(await generateKeyPair(), 'secret');
  await expectCode(() => importPrivateKeyPem(pem, 'not it'), 'key_decrypt_failed');
  await expectCode(() => importPrivateKeyPem(pem), 'key_decrypt_failed');
  const again = await importPrivateKeyPem(pem, 'secret');
  assert.is(again.type, 'ec-p256');
});

test('an empty passphrase is refused rather than silently encrypting with ""', async () => {
  await expectCode(async () => exportPrivateKeyPem(await generateKeyPair(), ''), 'passphrase_missing');
});

test('garbage and unsupported keys are refused with their codes', async () => {
  await expectCode(() => importPrivateKeyPem('not a key'), 'pem_invalid');
  const ed = await openssl(['genpkey', '-algorithm', 'ed25519']);
  await expectCode(() => importPrivateKeyPem(ed), 'key_unsupported');
});

test('keys made by openssl (SEC1 EC, PKCS#1 RSA) import', async () => {
  const ec = await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout']);
  assert.match(ec, /BEGIN EC PRIVATE KEY/);
  assert.is((await importPrivateKeyPem(ec)).type, 'ec-p256');
  const rsa = await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
  assert.is((await importPrivateKeyPem(rsa)).type, 'rsa-2048');
});

test.run();
