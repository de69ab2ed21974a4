/**
 * Moving an install (issue 16 item 3): a SQLite registry with tokens, devices, certificates, a
 * revocation, console administrators and their certificates, services and their certificates (one
 * revoked), and the audit trail, copied by `fleetcert db copy` into an empty PostgreSQL database;
 * every row arrives as it was, a second copy is refused, and `serve` on the copy renews the
 * devices the SQLite server enrolled.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { postgresConnection } from '#server/config/database-url.js';
import { openPostgresRegistry, postgresTypes } from '#server/registry/postgres-registry.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, enrollDevice, est, type EnrolledDevice } from '../helpers/est-client.js';
import { createToken, initDataDir, startServer } from '../helpers/fleet-server.js';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.js';

const it = suite('db copy: SQLite to PostgreSQL');
const ctx = {} as { dir: string; cluster: PostgresCluster };

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-copy-'));
  ctx.cluster = await startPostgres({ durable: false });
});
it.after(async () => {
  await ctx.cluster?.stop();
  await rm(ctx.dir, { recursive: true, force: true });
});

const TABLES = ['tokens', 'devices', 'certificates', 'audit', 'admins', 'admin_certificates', 'services', 'service_certificates'];

function sqliteRows(file: string, table: string): unknown[][] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM ${table} ORDER BY 1`).raw(true).all() as unknown[][];
  } finally {
    db.close();
  }
}

it('copies every row, verified; refuses a non-empty target; serve on the copy renews what SQLite enrolled', async () => {
  const server = await startServer(ctx.dir);
  const { token } = await createToken(server.dataDir, ['--uses', '10']);
  const devices: EnrolledDevice[] = [];
  for (const id of ['move-1', 'move-2', 'move-3']) devices.push(await enrollDevice(server, token, id));
  const revoke = await fleetcert(['device', 'revoke', 'move-3', '--data-dir', server.dataDir, '--passphrase-file', server.passphraseFile]);
  assert.is(revoke.code, 0, revoke.stderr);
  await server.stop();
  // Console administrators: one with a client certificate, one with a password only.
  const dataDirArgs = ['--data-dir', server.dataDir, '--passphrase-file', server.passphraseFile];
  const issued = await fleetcert([
    'admin',
    'issue',
    'alice',
    '--role',
    'operator',
    '--p12-out',
    join(ctx.dir, 'alice.p12'),
    ...dataDirArgs,
    '--json',
  ]);
  assert.is(issued.code, 0, issued.stderr);
  const aliceSerial = (JSON.parse(issued.stdout) as { serial: string }).serial;
  const passwd = await fleetcert(['admin', 'passwd', 'bob', '--data-dir', server.dataDir], { input: 'a long enough password\n' });
  assert.is(passwd.code, 0, passwd.stderr);
  // Backend consumers: one active, one revoked (its certificate belongs in the CRL the copy publishes).
  const serviceSerials: Record<string, string> = {};
  for (const name of ['nodered', 'telegraf']) {
    const p12 = ['--p12-out', join(ctx.dir, `${name}.p12`)];
    const service = await fleetcert(['service', 'issue', name, '--read', 'devices/+/status', ...p12, ...dataDirArgs, '--json']);
    assert.is(service.code, 0, service.stderr);
    serviceSerials[name] = (JSON.parse(service.stdout) as { serial: string }).serial;
  }
  const revokedService = await fleetcert(['service', 'revoke', 'telegraf', ...dataDirArgs, '--json']);
  assert.is(revokedService.code, 0, revokedService.stderr);

  const file = join(server.dataDir, 'registry.sqlite3');
  const url = await ctx.cluster.createDatabase();
  const args = ['db', 'copy', '--from', file, '--to', url, '--database-password-file', ctx.cluster.passwordFile, '--json'];
  const res = await fleetcert(args);
  assert.is(res.code, 0, res.stderr);
  assert.match(res.stderr, /copying audit: \d+\/\d+/);
  const out = JSON.parse(res.stdout) as { tables: { table: string; rows: number }[] };
  assert.equal(
    Object.fromEntries(out.tables.filter((t) => TABLES.includes(t.table)).map((t) => [t.table, t.rows])),
    Object.fromEntries(TABLES.map((t) => [t, sqliteRows(file, t).length])),
  );

  const connection = await postgresConnection(url, ctx.cluster.passwordFile, {});
  const client = new Client({ ...connection.config, types: postgresTypes });
  await client.connect();
  try {
    for (const table of TABLES) {
      const { rows } = await client.query({ text: `SELECT * FROM ${table} ORDER BY 1`, rowMode: 'array' });
      assert.equal(rows, sqliteRows(file, table), `${table} arrived as it was`);
    }
  } finally {
    await client.end();
  }
  assert.equal(
    TABLES.filter((t) => sqliteRows(file, t).length === 0),
    [],
    'every table had rows to copy',
  );
  const registry = await openPostgresRegistry(connection);
  try {
    assert.equal((await registry.adminByCertificate(aliceSerial, new Date()))?.role, 'operator', "alice's certificate logs in on the copy");
    assert.is((await registry.getAdmin('bob'))?.role, 'viewer');
    const nodered = await registry.getService('nodered');
    assert.equal(
      [nodered?.status, nodered?.read, nodered?.certificates.map((c) => c.serial)],
      ['active', ['devices/+/status'], [serviceSerials.nodered]],
    );
    const revoked = (await registry.revokedCertificates(new Date())).map((r) => r.serial);
    assert.ok(revoked.includes(serviceSerials.telegraf!), "the revoked service's certificate is in the copy's CRL entries");
  } finally {
    await registry.close();
  }

  const again = await fleetcert(args);
  assert.is(again.code, 4, again.stderr);
  assert.match(again.stderr, /already has rows in \w+; db copy only fills an empty registry/);

  const onPostgres = await startServer(ctx.dir, ['--database', url, '--database-password-file', ctx.cluster.passwordFile], server);
  try {
    const csr = await deviceCsr('move-1');
    const renewed = await est(onPostgres, {
      path: EST_PATHS.simpleReenroll,
      contentType: 'application/pkcs10',
      body: csr.body,
      cert: devices[0]!.chainPem,
      key: devices[0]!.keyPem,
    });
    assert.is(renewed.status, 200, renewed.body);
    const revoked = await est(onPostgres, {
      path: EST_PATHS.simpleReenroll,
      contentType: 'application/pkcs10',
      body: (await deviceCsr('move-3')).body,
      cert: devices[2]!.chainPem,
      key: devices[2]!.keyPem,
    });
    assert.is(revoked.json?.code, 'device_revoked');
    const list = await fleetcert(['device', 'list', '--json', '--data-dir', server.dataDir], {
      env: { FLEETCERT_DATABASE: url, FLEETCERT_DATABASE_PASSWORD_FILE: ctx.cluster.passwordFile },
    });
    assert.is(list.code, 0, list.stderr);
    assert.match(list.stdout, /move-2/);
    // The field views read PostgreSQL too: the refused renewal is in `device list --refused`.
    const refused = await fleetcert(['device', 'list', '--refused', '--json', '--data-dir', server.dataDir], {
      env: { FLEETCERT_DATABASE: url, FLEETCERT_DATABASE_PASSWORD_FILE: ctx.cluster.passwordFile },
    });
    assert.is(refused.code, 0, refused.stderr);
    assert.equal(
      (JSON.parse(refused.stdout) as { refusals: { deviceId: string; code: string }[] }).refusals.map((r) => [r.deviceId, r.code]),
      [['move-3', 'device_revoked']],
    );
  } finally {
    await onPostgres.stop();
  }
});

it('serve and the admin commands refuse a database whose schema is behind, pointing at db migrate', async () => {
  const url = await ctx.cluster.createDatabase();
  await mkdir(join(ctx.dir, 'behind'));
  const { dataDir, passphraseFile } = await initDataDir(join(ctx.dir, 'behind'));
  const args = ['--database', url, '--database-password-file', ctx.cluster.passwordFile];
  const serve = await fleetcert(['serve', '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--listen', '127.0.0.1:0', ...args]);
  assert.is(serve.code, 3, serve.stderr);
  assert.match(serve.stderr, /schema of postgres:\/\/postgres@127\.0\.0\.1:\d+\/\w+ is v0, this fleetcert needs v\d+/);
  assert.match(serve.stderr, /hint: run "fleetcert db migrate/);
  const list = await fleetcert(['device', 'list', '--data-dir', dataDir], {
    env: { FLEETCERT_DATABASE: url, FLEETCERT_DATABASE_PASSWORD_FILE: ctx.cluster.passwordFile },
  });
  assert.is(list.code, 3, list.stderr);
  const migrate = await fleetcert(['db', 'migrate', ...args, '--json']);
  assert.is(migrate.code, 0, migrate.stderr);
  assert.is(JSON.parse(migrate.stdout).from, 0);
  const again = await fleetcert(['db', 'migrate', ...args, '--json']);
  assert.is(JSON.parse(again.stdout).applied, 0);
});

it('refuses a URL with a password in it, pointing at the password file', async () => {
  const res = await fleetcert(['db', 'copy', '--from', '/nonexistent', '--to', 'postgres://u:secret@127.0.0.1:1/x']);
  assert.is(res.code, 2, res.stderr);
  assert.match(res.stderr, /password in it/);
  assert.match(res.stderr, /--database-password-file/);
  assert.not.match(res.stderr, /secret/);
});

it.run();
