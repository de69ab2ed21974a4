/**
 * `fleetcert db copy`: an existing SQLite registry moved into an empty PostgreSQL database, every
 * table and every row (tokens, devices, certificates, the audit trail, the stored CRL, and any
 * table a later migration adds), in one PostgreSQL transaction that commits only if what it wrote
 * reads back identical: per table, the row count and a SHA-256 over every row in primary-key order.
 * Both schemas keep the same columns with the same meaning (postgres-migrations.ts), so rows move
 * column for column. The source is opened read-only and never migrated.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { FleetcertError } from '../../shared/errors.js';
import type { PostgresConnection } from './postgres-connection.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { migratePostgres, postgresTypes } from './postgres-registry.js';
import { MIGRATIONS } from './sqlite-migrations.js';

const BATCH_ROWS = 500;

export interface TableCopy {
  readonly table: string;
  readonly rows: number;
  readonly sha256: string;
}

export type CopyProgress = (table: string, done: number, total: number) => void;

export async function copySqliteToPostgres(file: string, target: PostgresConnection, progress: CopyProgress): Promise<TableCopy[]> {
  const source = openSource(file);
  const pool = new Pool({ ...target.config, types: postgresTypes, max: 1 });
  try {
    await migratePostgres(pool);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const tables = tablesOf(source);
      await refuseNonEmpty(client, tables, target.display);
      const copied: TableCopy[] = [];
      for (const table of tables) copied.push(await copyTable(source, client, table, progress));
      await client.query(
        "SELECT setval(pg_get_serial_sequence('audit', 'seq'), GREATEST((SELECT max(seq) FROM audit), 1), (SELECT max(seq) FROM audit) IS NOT NULL)",
      );
      await client.query('COMMIT');
      return copied;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  } finally {
    source.close();
    await pool.end();
  }
}

function openSource(file: string): Database.Database {
  let db: Database.Database | undefined;
  let version: number;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    // The first read: a file that is not SQLite (SQLITE_NOTADB) fails here, not at open.
    version = db.pragma('user_version', { simple: true }) as number;
  } catch (err) {
    db?.close();
    throw new FleetcertError('config_invalid', `cannot open the SQLite registry ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (version !== MIGRATIONS.length || POSTGRES_MIGRATIONS.length !== MIGRATIONS.length) {
    db.close();
    throw new FleetcertError('config_invalid', `${file} has schema v${version}; this fleetcert copies v${MIGRATIONS.length}`, {
      hint: 'run any fleetcert command on that data directory with this version first (e.g. "fleetcert device list"), which migrates it',
    });
  }
  return db;
}

/**
 * Every table, each after the tables its foreign keys reference (read from the schema, so a table a
 * later migration adds is ordered too), otherwise by name.
 */
function tablesOf(db: Database.Database): string[] {
  const names = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  const parents = new Map(
    names.map((t) => [t, (db.prepare(`PRAGMA foreign_key_list(${quote(t)})`).all() as { table: string }[]).map((k) => k.table)]),
  );
  const ordered: string[] = [];
  while (ordered.length < names.length) {
    const next = names.find((t) => !ordered.includes(t) && parents.get(t)!.every((p) => p === t || ordered.includes(p)));
    if (next === undefined) throw new FleetcertError('internal', `the foreign keys among ${names.join(', ')} form a cycle`);
    ordered.push(next);
  }
  return ordered;
}

async function refuseNonEmpty(client: PoolClient, tables: readonly string[], display: string): Promise<void> {
  for (const table of tables) {
    const { rows } = await client.query(`SELECT 1 FROM ${quote(table)} LIMIT 1`);
    if (rows.length > 0) {
      throw new FleetcertError('database_not_empty', `${display} already has rows in ${table}; db copy only fills an empty registry`, {
        hint: 'copy into a new database (createdb), or drop the old one if it is really unused',
      });
    }
  }
}

async function copyTable(source: Database.Database, client: PoolClient, table: string, progress: CopyProgress): Promise<TableCopy> {
  const columns = (source.prepare(`PRAGMA table_info(${quote(table)})`).all() as { name: string; pk: number }[]).map((c) => c.name);
  const order = primaryKeyOrder(source, table);
  const total = (source.prepare(`SELECT count(*) AS n FROM ${quote(table)}`).get() as { n: number }).n;
  const hash = createHash('sha256');
  let batch: unknown[][] = [];
  let done = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const values = batch.flatMap((row) => row);
    const tuples = batch.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
    await client.query(`INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES ${tuples}`, values);
    done += batch.length;
    batch = [];
    progress(table, done, total);
  };
  const select = source.prepare(`SELECT ${columns.map(quote).join(', ')} FROM ${quote(table)} ORDER BY ${order}`).raw(true);
  for (const row of select.iterate() as Iterable<unknown[]>) {
    hash.update(rowDigestInput(row));
    batch.push(row);
    if (batch.length === BATCH_ROWS) await flush();
  }
  await flush();
  const sha256 = hash.digest('hex');
  await verifyTable(client, table, columns, order, total, sha256);
  return { table, rows: total, sha256 };
}

/** Reads the table back from PostgreSQL inside the transaction: same count, same checksum, or nothing is committed. */
async function verifyTable(client: PoolClient, table: string, columns: readonly string[], order: string, rows: number, sha256: string) {
  const { rows: back } = await client.query({
    text: `SELECT ${columns.map(quote).join(', ')} FROM ${quote(table)} ORDER BY ${order}`,
    rowMode: 'array',
  });
  const hash = createHash('sha256');
  for (const row of back as unknown[][]) hash.update(rowDigestInput(row));
  const got = hash.digest('hex');
  if (back.length !== rows || got !== sha256) {
    throw new FleetcertError(
      'internal',
      `copy of ${table} does not read back as written (${back.length}/${rows} rows, sha256 ${got} vs ${sha256})`,
    );
  }
}

function primaryKeyOrder(db: Database.Database, table: string): string {
  const info = db.prepare(`PRAGMA table_info(${quote(table)})`).all() as { name: string; pk: number }[];
  const keys = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  return (keys.length > 0 ? keys : info).map((c) => quote(c.name)).join(', ');
}

/** One row as bytes for the checksum: JSON with byte strings as hex, the same from either database. */
function rowDigestInput(row: readonly unknown[]): string {
  return JSON.stringify(row.map((v) => (Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : v))) + '\n';
}

function quote(identifier: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(identifier)) throw new FleetcertError('internal', `unexpected identifier ${JSON.stringify(identifier)}`);
  return `"${identifier}"`;
}
