/**
 * Group commit (issue 15 item 2): the writes of one turn of the event loop share one transaction,
 * each keeps its own outcome (a failing one is rolled back alone), and each promise settles only
 * once its COMMIT is done (another connection sees the row by then). Through the registry too:
 * concurrent compare-and-swap writes in one batch, one of them stale.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SqliteGroupCommit } from '#server/registry/sqlite-group-commit.js';
import { openSqliteRegistry } from '#server/registry/sqlite-registry.js';
import { FleetcertError } from '#shared/errors.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { issue, token } from './registry-suite.js';

function open(file: string): { db: Database.Database; commits: string[] } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const commits: string[] = [];
  const exec = db.exec.bind(db);
  db.exec = (sql: string) => {
    commits.push(sql);
    return exec(sql);
  };
  return { db, commits };
}

test('one turn of writes is one transaction; a failing write is rolled back alone; results arrive after COMMIT', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'g.sqlite3');
    const { db, commits } = open(file);
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    commits.length = 0;
    const group = new SqliteGroupCommit(db, async (run) => run());
    const reader = new Database(file, { readonly: true });
    const insert = (x: number) => group.run(() => db.prepare('INSERT INTO t VALUES (?)').run(x).changes);
    const results = await Promise.allSettled([
      ...Array.from({ length: 50 }, (_, i) =>
        insert(i).then((changes) => {
          // Settled: committed, so another connection sees it.
          assert.ok(reader.prepare('SELECT 1 FROM t WHERE x = ?').get(i), `row ${i} visible when its promise resolves`);
          return changes;
        }),
      ),
      insert(7), // a duplicate: fails, alone
      group.run(() => {
        db.prepare('INSERT INTO t VALUES (1000)').run();
        throw new FleetcertError('registry_conflict', 'stale');
      }),
    ]);
    assert.equal(
      commits.filter((s) => s === 'BEGIN IMMEDIATE' || s === 'COMMIT'),
      ['BEGIN IMMEDIATE', 'COMMIT'],
    );
    assert.is(results.filter((r) => r.status === 'fulfilled').length, 50);
    assert.match(String((results[50] as PromiseRejectedResult).reason), /UNIQUE/);
    assert.is(((results[51] as PromiseRejectedResult).reason as FleetcertError).code, 'registry_conflict');
    assert.is((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 50, 'the failed writes left nothing');
    await group.drain();
    reader.close();
    db.close();
  });
});

test('a batch is bounded: more writes than fit take further transactions, in order', async () => {
  await withTempDir(async (dir) => {
    const { db, commits } = open(join(dir, 'g.sqlite3'));
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER)');
    commits.length = 0;
    const group = new SqliteGroupCommit(db, async (run) => run(), 10);
    await Promise.all(Array.from({ length: 25 }, (_, i) => group.run(() => db.prepare('INSERT INTO t (v) VALUES (?)').run(i))));
    assert.is(commits.filter((s) => s === 'COMMIT').length, 3);
    assert.equal(
      (db.prepare('SELECT v FROM t ORDER BY x').all() as { v: number }[]).map((r) => r.v),
      Array.from({ length: 25 }, (_, i) => i),
    );
    db.close();
  });
});

test('registry: concurrent issuances in one batch commit; the one decided from a stale state conflicts alone', async () => {
  await withTempDir(async (dir) => {
    const registry = await openSqliteRegistry(join(dir, 'r.sqlite3'));
    await registry.createToken(token('t1', null), null);
    // All 21 read "dev-0 absent" in the same turn, so all land in one batch; only one dev-0 write can apply.
    const results = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => issue(registry, `dev-${i}`, `s${i}`, 't1')),
      issue(registry, 'dev-0', 'stale', 't1'),
    ]);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.is(rejected.length, 1);
    assert.is((rejected[0]!.reason as FleetcertError).code, 'registry_conflict');
    assert.is((await registry.listDevices()).length, 20);
    assert.is([await registry.getCertificate('s0'), await registry.getCertificate('stale')].filter(Boolean).length, 1);
    assert.is((await registry.getToken('t1'))?.uses, 20, 'the conflicting write counted no token use');
    await registry.close();
  });
});

test.run();
