import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { access, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fleetcert } from '../helpers/cli.js';
import { openssl, run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

test('init --json: CA, intermediate and server TLS files that openssl accepts, with the right modes', async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, 'data');
    const pass = join(dir, 'ca.pass');
    const res = await fleetcert([
      'init',
      '--data-dir',
      data,
      '--passphrase-file',
      pass,
      '--san',
      'broker.example.net',
      '--san',
      '10.1.2.3',
      '--json',
    ]);
    assert.is(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.is(out.ok, true);
    assert.is(out.passphrase.generated, true);
    assert.is(await mode(pass), 0o600);
    for (const d of [data, join(data, 'ca'), join(data, 'tls')]) assert.is(await mode(d), 0o700, d);
    for (const f of ['ca/root.key', 'ca/intermediate.key', 'tls/broker.key', 'tls/enroll.key'])
      assert.is(await mode(join(data, f)), 0o600, f);
    assert.equal((await readdir(data)).sort(), ['ca', 'tls'], 'no staging leftovers');

    // The root fingerprint we print is the one openssl computes: what devices will pin.
    const fp = await openssl(['x509', '-in', join(data, 'ca/root.pem'), '-noout', '-fingerprint', '-sha256']);
    assert.is(fp.trim().split('=')[1]!.replace(/:/g, '').toLowerCase(), out.root.fingerprintSha256);

    // Chains: intermediate under root; both server certs (leaf + intermediate bundles) under root.
    await openssl(['verify', '-CAfile', join(data, 'ca/root.pem'), join(data, 'ca/intermediate.pem')]);
    for (const name of ['broker', 'enroll']) {
      const cert = join(data, `tls/${name}.pem`);
      await openssl([
        'verify',
        '-purpose',
        'sslserver',
        '-CAfile',
        join(data, 'ca/root.pem'),
        '-untrusted',
        cert,
        '-verify_hostname',
        'broker.example.net',
        cert,
      ]);
      await openssl(['verify', '-CAfile', join(data, 'ca/root.pem'), '-untrusted', cert, '-verify_ip', '10.1.2.3', cert]);
      const text = await openssl(['x509', '-in', cert, '-noout', '-ext', 'subjectAltName']);
      const host = hostname().split('.')[0]!.toLowerCase();
      assert.match(text, `DNS:${host}.local`);
      assert.match(text, 'DNS:localhost');
      assert.match(text, 'IP Address:127.0.0.1');
      // The TLS key is the certificate's key.
      const certPub = await openssl(['x509', '-in', cert, '-noout', '-pubkey']);
      const keyPub = await openssl(['pkey', '-in', join(data, `tls/${name}.key`), '-pubout']);
      assert.is(certPub, keyPub);
    }
    const chain = await readFile(join(data, 'ca/chain.pem'), 'utf8');
    assert.is(chain.match(/BEGIN CERTIFICATE/g)?.length, 2);

    // CA keys are encrypted: they open with the passphrase and only with it.
    await openssl(['pkey', '-in', join(data, 'ca/intermediate.key'), '-passin', `file:${pass}`, '-noout']);
    const noPass = await run('openssl', ['pkey', '-in', join(data, 'ca/root.key'), '-passin', 'pass:wrong-passphrase', '-noout']);
    assert.is.not(noPass.code, 0);
    assert.match(await readFile(join(data, 'ca/root.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);

    // Nothing secret was printed.
    const passphrase = (await readFile(pass, 'utf8')).trim();
    assert.not.ok(res.stdout.includes(passphrase) || res.stderr.includes(passphrase));
    assert.not.match(res.stdout + res.stderr, /PRIVATE KEY/);
  });
});

test('init refuses to overwrite an existing CA: exit 4, files untouched', async () => {
  await withTempDir(async (dir) => {
    const args = ['init', '--data-dir', join(dir, 'data'), '--passphrase-file', join(dir, 'p')];
    assert.is((await fleetcert(args)).code, 0);
    const before = await sha(join(dir, 'data/ca/intermediate.key'));
    const again = await fleetcert(args);
    assert.is(again.code, 4);
    assert.match(again.stderr, /already exists/);
    assert.match(again.stderr, /hint:/);
    assert.is(await sha(join(dir, 'data/ca/intermediate.key')), before);
  });
});

test('init --root-key-out: the root key leaves the data directory, encrypted and 0600', async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, 'offline-root.key');
    const res = await fleetcert([
      'init',
      '--data-dir',
      join(dir, 'data'),
      '--passphrase-file',
      join(dir, 'p'),
      '--root-key-out',
      out,
      '--json',
    ]);
    assert.is(res.code, 0, res.stderr);
    assert.is(JSON.parse(res.stdout).rootKey.offline, true);
    assert.not.ok(await exists(join(dir, 'data/ca/root.key')));
    assert.is(await mode(out), 0o600);
    // The offline key is the root certificate's key.
    const certPub = await openssl(['x509', '-in', join(dir, 'data/ca/root.pem'), '-noout', '-pubkey']);
    const keyPub = await openssl(['pkey', '-in', out, '-passin', `file:${join(dir, 'p')}`, '-pubout']);
    assert.is(certPub, keyPub);
    // And an existing file there is never overwritten.
    const again = await fleetcert(['init', '--data-dir', join(dir, 'data2'), '--passphrase-file', join(dir, 'p'), '--root-key-out', out]);
    assert.is(again.code, 4);
    assert.not.ok(await exists(join(dir, 'data2/ca')));
  });
});

test('passphrase: env var works; missing or short is exit 3 with a hint, and nothing is created', async () => {
  await withTempDir(async (dir) => {
    const viaEnv = await fleetcert(['init', '--data-dir', join(dir, 'env')], {
      env: { FLEETCERT_CA_PASSPHRASE: 'a long enough passphrase' },
    });
    assert.is(viaEnv.code, 0, viaEnv.stderr);
    await openssl(['pkey', '-in', join(dir, 'env/ca/intermediate.key'), '-passin', 'pass:a long enough passphrase', '-noout']);

    const missing = await fleetcert(['init', '--data-dir', join(dir, 'none')]);
    assert.is(missing.code, 3);
    assert.match(missing.stderr, /--passphrase-file/);
    assert.not.ok(await exists(join(dir, 'none')));

    await writeFile(join(dir, 'short'), 'short\n');
    const short = await fleetcert(['init', '--data-dir', join(dir, 'short-data'), '--passphrase-file', join(dir, 'short')]);
    assert.is(short.code, 3);
    assert.match(short.stderr, /shorter than 12/);
    assert.not.ok(await exists(join(dir, 'short-data')));
  });
});

test('data dir from FLEETCERT_DATA_DIR; --help teaches; bad usage is exit 2', async () => {
  await withTempDir(async (dir) => {
    const res = await fleetcert(['init', '--passphrase-file', join(dir, 'p')], { env: { FLEETCERT_DATA_DIR: join(dir, 'from-env') } });
    assert.is(res.code, 0, res.stderr);
    assert.ok(await exists(join(dir, 'from-env/ca/root.pem')));
  });
  const help = await fleetcert(['init', '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /--passphrase-file/);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /FLEETCERT_DATA_DIR/);
  assert.is((await fleetcert(['init', '--no-such-option'])).code, 2);
  assert.is((await fleetcert(['init', '--key-type', 'dsa-512'])).code, 2);
});

test.run();
