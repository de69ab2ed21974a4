/** The admin CLI as a black box: tokens, bootstrap files, device commands, exit codes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootstrapFileSchema } from '#shared/protocol/bootstrap-file.js';
import { fleetcert } from '../helpers/cli.js';
import { initDataDir } from '../helpers/fleet-server.js';
import { openssl } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';

test('token create --out: a 0600 bootstrap file the agent schema accepts, pinning the real root', async () => {
  await withTempDir(async (dir) => {
    const { dataDir } = await initDataDir(dir);
    const out = join(dir, 'fleetcert.json');
    const res = await fleetcert([
      'token',
      'create',
      '--data-dir',
      dataDir,
      '--name',
      'plant3',
      '--uses',
      '200',
      '--expires',
      '14d',
      '--id-pattern',
      'rpi-*',
      '--label',
      'site=plant3',
      '--enroll-url',
      'https://broker.local:8443',
      '--out',
      out,
    ]);
    assert.is(res.code, 0, res.stderr);
    assert.is((await stat(out)).mode & 0o777, 0o600);
    const file = bootstrapFileSchema.parse(JSON.parse(await readFile(out, 'utf8')));
    assert.is(file.enrollUrl, 'https://broker.local:8443');
    const fp = await openssl(['x509', '-in', join(dataDir, 'ca/root.pem'), '-noout', '-fingerprint', '-sha256']);
    assert.is(file.caFingerprint, fp.trim().split('=')[1]!.replace(/:/g, '').toLowerCase());
    assert.is(file.caCertificate, await readFile(join(dataDir, 'ca/root.pem'), 'utf8'));
    // Printed exactly once, for the person running the command.
    assert.is(res.stdout.split(file.token).length - 1, 1);
    assert.match(res.stdout, /200/);
    assert.match(res.stdout, /rpi-\*/);
  });
});

test('the secret is stored only as a hash and never listed', async () => {
  await withTempDir(async (dir) => {
    const { dataDir } = await initDataDir(dir);
    const created = JSON.parse((await fleetcert(['token', 'create', '--data-dir', dataDir, '--name', 'x', '--json'])).stdout);
    const secret = created.token.split('_').slice(2).join('_');
    assert.is(secret.length, 43);
    for (const name of await readdir(dataDir)) {
      if (!name.startsWith('registry')) continue;
      const bytes = await readFile(join(dataDir, name));
      assert.not.ok(bytes.includes(secret), `${name} holds the secret`);
      assert.not.ok(bytes.includes(created.token), `${name} holds the token`);
    }
    assert.is((await stat(join(dataDir, 'registry.sqlite3'))).mode & 0o777, 0o600);
    const list = await fleetcert(['token', 'list', '--data-dir', dataDir, '--json']);
    assert.not.ok(list.stdout.includes(secret));
    const tokens = JSON.parse(list.stdout).tokens;
    assert.equal(Object.keys(tokens[0]).sort(), [
      'approval',
      'createdAt',
      'expiresAt',
      'id',
      'idPattern',
      'labels',
      'maxUses',
      'name',
      'reenroll',
      'revokedAt',
      'state',
      'uses',
    ]);
    const human = await fleetcert(['token', 'list', '--data-dir', dataDir]);
    assert.match(human.stdout, new RegExp(`${created.id}\\s+x\\s+active\\s+0/∞`));
  });
});

test('token create refuses to overwrite --out (exit 4) and then creates no token', async () => {
  await withTempDir(async (dir) => {
    const { dataDir } = await initDataDir(dir);
    const out = join(dir, 'existing.json');
    await writeFile(out, 'keep me');
    const res = await fleetcert(['token', 'create', '--data-dir', dataDir, '--name', 'x', '--out', out]);
    assert.is(res.code, 4);
    assert.is(await readFile(out, 'utf8'), 'keep me');
    assert.equal(JSON.parse((await fleetcert(['token', 'list', '--data-dir', dataDir, '--json'])).stdout).tokens, []);
  });
});

test('bad token options are usage errors (exit 2) that say what is wrong', async () => {
  await withTempDir(async (dir) => {
    const { dataDir } = await initDataDir(dir);
    const base = ['token', 'create', '--data-dir', dataDir, '--name', 'x'];
    for (const [args, message] of [
      [['--expires', '14 days'], /not a duration/],
      [['--uses', '0'], /whole number/],
      [['--label', 'nolabel'], /key=value/],
      [['--id-pattern', 'rpi/#'], /may hold only/],
      [['--enroll-url', 'http://insecure'], /https/],
      [['--approval', 'sometimes'], /Allowed choices/],
    ] as const) {
      const res = await fleetcert([...base, ...args]);
      assert.is(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message);
    }
  });
});

test('unknown ids and an uninitialised data dir: exit 5 with a hint', async () => {
  await withTempDir(async (dir) => {
    const bare = await fleetcert(['device', 'list', '--data-dir', join(dir, 'nothing')]);
    assert.is(bare.code, 5);
    assert.match(bare.stderr, /hint: run "fleetcert init/);
    const { dataDir } = await initDataDir(dir);
    for (const args of [
      ['device', 'show', 'ghost'],
      ['device', 'approve', 'ghost'],
      ['device', 'reset', 'ghost'],
      ['token', 'revoke', 'ghost12345'],
    ]) {
      const res = await fleetcert([...args, '--data-dir', dataDir, '--json']);
      assert.is(res.code, 5, `${args.join(' ')}: ${res.stderr}`);
      assert.match(JSON.parse(res.stdout).code, /not_found/);
    }
    const empty = await fleetcert(['device', 'list', '--data-dir', dataDir]);
    assert.is(empty.code, 0);
    assert.match(empty.stdout, /No devices yet/);
  });
});

test('serve without the right passphrase fails fast with a hint, and never prints it', async () => {
  await withTempDir(async (dir) => {
    const { dataDir } = await initDataDir(dir);
    await writeFile(join(dir, 'wrong'), 'definitely-the-wrong-passphrase\n');
    const res = await fleetcert(['serve', '--data-dir', dataDir, '--passphrase-file', join(dir, 'wrong'), '--listen', '127.0.0.1:0']);
    assert.is(res.code, 3);
    assert.match(res.stderr, /wrong CA passphrase/);
    assert.not.match(res.stderr, /definitely-the-wrong/);
    const none = await fleetcert(['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0']);
    assert.is(none.code, 3);
    assert.match(none.stderr, /--passphrase-file/);
  });
});

test.run();
