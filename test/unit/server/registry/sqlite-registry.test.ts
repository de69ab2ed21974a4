/** The SQLite registry: the shared contract suite, then what only SQLite has (file, WAL, migrations, raw rows). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteRegistry } from '#server/registry/sqlite-registry.js';
import { MIGRATIONS } from '#server/registry/sqlite-migrations.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { issue, registrySuite, token } from './registry-suite.js';

registrySuite('sqlite', (dir) => openSqliteRegistry(join(dir, 'registry.sqlite3')));

const it = suite('sqlite registry');

it('migrates a new file (0600) to the current schema, WAL, and reopens without re-running migrations', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    await (await openSqliteRegistry(file)).close();
    assert.is(statSync(file).mode & 0o777, 0o600);
    const db = new Database(file, { readonly: true });
    assert.is(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    const again = await openSqliteRegistry(file);
    await again.createToken(token('t1', null), null);
    await again.close();
    const third = await openSqliteRegistry(file);
    assert.is((await third.listTokens()).length, 1);
    await third.close();
  });
});

it('the audit log is append-only, even to someone with the file', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    const registry = await openSqliteRegistry(file);
    await registry.createToken(token('t1', null), 'cli:root');
    await registry.close();
    const db = new Database(file);
    assert.throws(() => db.prepare("UPDATE audit SET action = 'x'").run(), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit').run(), /append-only/);
    db.close();
  });
});

it('one active certificate per device is a constraint, not only code', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    const registry = await openSqliteRegistry(file);
    await registry.createToken(token('t1', null), null);
    await issue(registry, 'dev-1', '01', 't1');
    await registry.close();
    const db = new Database(file);
    assert.throws(
      () =>
        db
          .prepare(
            `INSERT INTO certificates (serial, device_id, key_sha256, not_before, not_after, status, issued_at, pem)
             VALUES ('02', 'dev-1', 'k', 0, 1, 'active', 0, 'p')`,
          )
          .run(),
      /UNIQUE/,
    );
    db.close();
  });
});

it("a corrupt row is registry_corrupt naming the row, never a crash or the caller's fault", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    const registry = await openSqliteRegistry(file);
    await registry.createToken(token('t1', null), null);
    await issue(registry, 'dev-1', '01', 't1');
    await issue(registry, 'dev-2', '02', 't1');
    const db = new Database(file);
    db.prepare("UPDATE devices SET labels = '{not json' WHERE id = 'dev-1'").run();
    db.pragma('ignore_check_constraints = ON');
    db.prepare("UPDATE devices SET status = 'zombie' WHERE id = 'dev-2'").run();
    db.close();
    const badJson = await expectCode(() => registry.getDevice('dev-1'), 'registry_corrupt');
    assert.match(badJson.message, 'devices/dev-1: labels');
    const badStatus = await expectCode(() => registry.getDevice('dev-2'), 'registry_corrupt');
    assert.match(badStatus.message, 'devices/dev-2: status');
    assert.is(badStatus.status, 500);
    await registry.close();
  });
});

it('a newer schema than this program knows is refused with a hint, never downgraded', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    await (await openSqliteRegistry(file)).close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    const err = await expectCode(() => openSqliteRegistry(file), 'config_invalid');
    assert.match(err.message, /newer/);
  });
});

it.run();
