/** The PostgreSQL registry: the shared contract suite on a real cluster, then what only PostgreSQL has. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client } from 'pg';
import { postgresConnection } from '#server/config/database-url.js';
import { openPostgresRegistry, postgresSchemaVersion } from '#server/registry/postgres-registry.js';
import { POSTGRES_MIGRATIONS } from '#server/registry/postgres-migrations.js';
import { MIGRATIONS } from '#server/registry/sqlite-migrations.js';
import { openSqliteRegistry } from '#server/registry/sqlite-registry.js';
import Database from 'better-sqlite3';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { certificateToPem } from '#shared/pki/certificate.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { makeTestPki } from '../../../helpers/test-pki.js';
import { startPostgres, type PostgresCluster } from '../../../helpers/postgres.js';
import { registrySuite, token } from './registry-suite.js';

let started: Promise<PostgresCluster> | undefined;
const cluster = () => (started ??= startPostgres({ durable: false, tls: true }));
const connect = async (url: string) => postgresConnection(url, (await cluster()).passwordFile, {});

registrySuite('postgres', async () => openPostgresRegistry(await connect(await (await cluster()).createDatabase()), { migrate: true }));

// The suites run in order: the cluster stops after this file's last one.
const it = suite('postgres registry');
it.after(async () => (await started)?.stop());

it('serve refuses a database that is behind; db migrate brings it to the current version, once', async () => {
  const connection = await connect(await (await cluster()).createDatabase());
  assert.equal(await postgresSchemaVersion(connection), { current: 0, expected: POSTGRES_MIGRATIONS.length });
  const err = await expectCode(() => openPostgresRegistry(connection), 'config_invalid');
  assert.match(err.hint ?? '', /fleetcert db migrate/);
  // Two servers migrating at once: the advisory lock lets one apply each step.
  const both = await Promise.all([
    openPostgresRegistry(connection, { migrate: true }),
    openPostgresRegistry(connection, { migrate: true }),
  ]);
  await both[0].createToken(token('t1', null), null);
  assert.is((await both[1].listTokens()).length, 1);
  await Promise.all(both.map((r) => r.close()));
  assert.equal(await postgresSchemaVersion(connection), { current: POSTGRES_MIGRATIONS.length, expected: POSTGRES_MIGRATIONS.length });
  const client = new Client(connection.config);
  await client.connect();
  const versions = await client.query<{ version: number }>('SELECT version FROM schema_version ORDER BY version');
  assert.equal(
    versions.rows.map((r) => r.version),
    POSTGRES_MIGRATIONS.map((_, i) => i + 1),
  );
  await client.end();
});

it('the two schemas agree: every SQLite migration has its PostgreSQL step, every table the same columns (db copy relies on it)', async () => {
  assert.is(POSTGRES_MIGRATIONS.length, MIGRATIONS.length, 'a migration added to one backend needs its counterpart in the other');
  const connection = await connect(await (await cluster()).createDatabase());
  await (await openPostgresRegistry(connection, { migrate: true })).close();
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    await (await openSqliteRegistry(file)).close();
    const sqlite = new Database(file, { readonly: true });
    const client = new Client(connection.config);
    await client.connect();
    try {
      const tables = (
        sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as {
          name: string;
        }[]
      ).map((t) => t.name);
      const pgTables = await client.query<{ t: string }>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'schema_version' ORDER BY 1",
      );
      assert.equal(
        pgTables.rows.map((r) => r.t),
        tables,
      );
      for (const table of tables) {
        const columns = (sqlite.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
        const pgColumns = await client.query<{ c: string }>(
          'SELECT column_name AS c FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
          [table],
        );
        assert.equal(
          pgColumns.rows.map((r) => r.c),
          columns,
          table,
        );
      }
    } finally {
      sqlite.close();
      await client.end();
    }
  });
});

it('connections bound how long a vanished server can hold a lock: idle-in-transaction and statement timeouts are set', async () => {
  const connection = await connect(await (await cluster()).createDatabase());
  const client = new Client(connection.config);
  await client.connect();
  try {
    const idle = await client.query<{ v: string }>('SHOW idle_in_transaction_session_timeout');
    const statement = await client.query<{ v: string }>('SHOW statement_timeout');
    assert.equal([Object.values(idle.rows[0]!)[0], Object.values(statement.rows[0]!)[0]], ['30s', '30s']);
  } finally {
    await client.end();
  }
});

it('the audit log is append-only, even to someone with SQL access', async () => {
  const connection = await connect(await (await cluster()).createDatabase());
  const registry = await openPostgresRegistry(connection, { migrate: true });
  await registry.createToken(token('t1', null), 'cli:root');
  await registry.close();
  const client = new Client(connection.config);
  await client.connect();
  for (const sql of ['UPDATE audit SET source = NULL', 'DELETE FROM audit', 'TRUNCATE audit']) {
    await client.query(sql).then(
      () => assert.unreachable(sql),
      (err: Error) => assert.match(err.message, /append-only/),
    );
  }
  await client.end();
});

it("file writers on two servers go one at a time: a transaction's lock (broker-acl) is held to its end, across pools", async () => {
  const connection = await connect(await (await cluster()).createDatabase());
  const servers = [await openPostgresRegistry(connection, { migrate: true }), await openPostgresRegistry(connection)];
  try {
    const seen: string[] = [];
    // Each reads the services and "writes the ACL" later: without the lock the second reads before the first has written.
    const writer = (name: string, registry: (typeof servers)[number], holdMs: number) =>
      registry.transaction(
        async (tx) => {
          seen.push(`${name} reads ${(await tx.listServices()).length}`);
          await new Promise((r) => setTimeout(r, holdMs));
          seen.push(`${name} writes`);
        },
        { lock: 'broker-acl' },
      );
    const first = writer('a', servers[0]!, 300);
    await new Promise((r) => setTimeout(r, 50));
    const later = new Date('2027-01-01T00:00:00Z');
    await servers[1]!.saveService({
      name: 'n',
      grants: { read: ['x/#'], write: [] },
      certificate: { serial: '5e', notAfter: later },
      now: later,
      source: null,
    });
    await Promise.all([first, writer('b', servers[1]!, 0)]);
    assert.equal(seen, ['a reads 0', 'a writes', 'b reads 1', 'b writes']);
    // Another lock (server-tls) is not held up by it.
    const blocked = writer('c', servers[0]!, 300);
    await new Promise((r) => setTimeout(r, 50));
    const asked = Date.now();
    await servers[1]!.transaction(async () => undefined, { lock: 'server-tls' });
    assert.ok(Date.now() - asked < 200, 'server-tls waited for broker-acl');
    await blocked;
  } finally {
    await Promise.all(servers.map((r) => r.close()));
  }
});

it('a wrong password is a config error naming the database, never the password', async () => {
  const url = await (await cluster()).createDatabase();
  const connection = await postgresConnection(url, undefined, { PGPASSFILE: '/nonexistent' });
  const wrong = { ...connection, config: { ...connection.config, password: 'not-the-password' } };
  const err = await expectCode(() => openPostgresRegistry(wrong), 'config_invalid');
  assert.match(err.message, /cannot use the registry database postgres:\/\/postgres@127\.0\.0\.1:\d+\/fleetcert_/);
  assert.not.match(err.message + (err.hint ?? ''), /not-the-password/);
});

it('TLS to the database: verify-full against the CA file works (and is TLS); another CA is refused; verify-ca needs a CA', async () => {
  const c = await cluster();
  const url = await c.createDatabase();
  const tlsUrl = `${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(c.caFile!)}`;
  const registry = await openPostgresRegistry(await connect(tlsUrl), { migrate: true });
  await registry.createToken(token('t1', null), null);
  await registry.close();
  const client = new Client((await connect(tlsUrl)).config);
  await client.connect();
  const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  assert.is(rows[0]?.ssl, true);
  await client.end();

  const otherCa = join(dirname(c.passwordFile), 'other-ca.pem');
  await writeFile(otherCa, certificateToPem((await makeTestPki(new Date())).root.certificate));
  const wrong = await connect(`${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(otherCa)}`);
  const err = await expectCode(() => openPostgresRegistry(wrong), 'config_invalid');
  assert.match(err.message, /sslmode=verify-full/);
  await expectCode(() => connect(`${url}?sslmode=verify-ca`), 'usage');
  await (await openPostgresRegistry(await connect(`${url}?sslmode=require`))).close();
});

it.run();
