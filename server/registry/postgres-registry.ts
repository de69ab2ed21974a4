/**
 * The PostgreSQL registry (node-postgres `pg`, a connection pool): the backend for several
 * `fleetcert serve` instances on one database. Same contract as the SQLite registry, kept by the
 * database and not by any process:
 * - every state change is one transaction whose preconditions are in its SQL (compare-and-swap):
 *   `UPDATE ... WHERE status = expected`, `INSERT ... ON CONFLICT DO NOTHING`, token uses counted
 *   by `UPDATE ... SET uses = uses + 1 WHERE uses < max_uses`. Under READ COMMITTED an UPDATE that
 *   waited for another transaction's row lock re-checks its WHERE on the committed row, so two
 *   servers deciding from one state cannot both write;
 * - uniqueness is a constraint (primary keys, one active certificate per device);
 * - a device's writes take its row lock first, so a revoke and an issue of one device serialise;
 * - CRL publications are serialised by `pg_advisory_xact_lock` and a compare-and-swap on the number.
 *
 * Group commit: none of our own. Each write is its own short transaction on a pooled connection;
 * PostgreSQL already flushes the WAL of concurrent commits together (one fsync for all commits
 * waiting at that moment), which is what SQLite's group commit does by hand.
 */
import { Client, Pool, TypeOverrides, types, type ClientBase, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { FleetcertError } from '../../shared/errors.js';
import type {
  AdminChange,
  AdminRecord,
  AuditAction,
  AuditCount,
  AuditEntry,
  AuditFilter,
  CertificateRecord,
  ContestedAttempt,
  DeviceExpectation,
  DevicePage,
  DeviceQuery,
  DeviceRecord,
  DeviceSort,
  DeviceStatus,
  FleetSummary,
  IssueOutcome,
  IssueRecord,
  Labels,
  NewAuditEntry,
  PendingRecord,
  RefusalGroup,
  RevokedEntry,
  ServiceChange,
  ServiceRecord,
  StoredCrl,
  TakeoverFlag,
  TokenRecord,
} from './records.js';
import { DEVICE_STATUSES } from './records.js';
import type { Registry, RenewalOptions, TransactionLock } from './registry.js';
import type { PostgresConnection } from './postgres-connection.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import {
  adminFromRow,
  auditFromRow,
  CERTIFICATE_COLUMNS,
  certificateFromRow,
  conflict,
  containsPattern,
  crlFromRow,
  DAY_MS,
  deviceFromRow,
  oneOf,
  SERVICE_CERTIFICATE_COLUMNS,
  serviceFromRows,
  tokenFromRow,
  unprefix,
  type AdminRow,
  type AuditRow,
  type CertificateRow,
  type CrlRow,
  type DeviceRow,
  type DeviceSummaryRow,
  type ServiceCertificateRow,
  type ServiceRow,
  type TokenRow,
} from './sqlite-registry.js';

/** Advisory lock keys (one bigint namespace per database): schema migration, CRL publication, file writers. */
const MIGRATION_LOCK = 0x666c6301; // "flc" 1
const CRL_LOCK = 0x666c6302;
const FILE_LOCKS: Readonly<Record<TransactionLock, number>> = { 'broker-acl': 0x666c6303, 'server-tls': 0x666c6304 };

/** SQLSTATEs after which a whole transaction is simply run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const ATTEMPTS = 5;
const UNIQUE_VIOLATION = '23505';

/**
 * The sort keys of the device list and the columns they order by (ties broken by id). Text sorts
 * in byte order (COLLATE "C"), as SQLite's BINARY does, whatever locale the database was created with.
 */
const DEVICE_ORDER: Readonly<Record<DeviceSort, string>> = {
  id: 'd.id COLLATE "C"',
  status: 'd.status COLLATE "C"',
  last_seen: 'd.last_seen',
  expires: 'c.not_after',
};

/** BIGINT (times in ms, audit seq) as numbers: every value we store is far below 2^53. */
export const postgresTypes = new TypeOverrides();
postgresTypes.setTypeParser(types.builtins.INT8, (value: string) => Number(value));

export interface OpenPostgresOptions {
  /** Apply missing migrations (only `fleetcert db migrate` and tests); otherwise a behind schema is refused. */
  readonly migrate?: boolean;
  /** Pool size: connections this process may hold. */
  readonly maxConnections?: number;
}

/** Opens the registry on a PostgreSQL database; refuses (or migrates) a schema that is behind. */
export async function openPostgresRegistry(connection: PostgresConnection, options: OpenPostgresOptions = {}): Promise<Registry> {
  const pool = new Pool({ ...connection.config, types: postgresTypes, max: options.maxConnections ?? 10, idleTimeoutMillis: 30_000 });
  // An idle pooled connection that dies (database restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    if (options.migrate) await migratePostgres(pool);
    await checkSchema(pool, connection.display);
  } catch (err) {
    await pool.end();
    throw unreachable(err, connection.display);
  }
  return new PostgresRegistry(new PoolExecutor(pool), pool);
}

/** The schema version of a database (0 when fleetcert never migrated it) and what this fleetcert expects. */
export async function postgresSchemaVersion(connection: PostgresConnection): Promise<{ current: number; expected: number }> {
  const client = new Client({ ...connection.config, types: postgresTypes });
  try {
    await client.connect();
    return { current: await schemaVersion(client), expected: POSTGRES_MIGRATIONS.length };
  } catch (err) {
    throw unreachable(err, connection.display);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Applies the missing migrations, one transaction each, under an advisory lock. The versions applied. */
export async function migratePostgres(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    for (let v = 0; v < POSTGRES_MIGRATIONS.length; v += 1) {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        // Under the lock: CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE of the same table.
        await client.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
        // Another server may have applied it while this one waited for the lock.
        if ((await schemaVersion(client)) <= v) {
          await client.query(POSTGRES_MIGRATIONS[v]!);
          await client.query('INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
          applied.push(v + 1);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
    return applied;
  } finally {
    client.release();
  }
}

async function schemaVersion(client: ClientBase | Pool): Promise<number> {
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
  if (exists.rows[0]?.t == null) return 0;
  const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version');
  return rows[0]?.v ?? 0;
}

async function checkSchema(pool: Pool, display: string): Promise<void> {
  const version = await schemaVersion(pool);
  const expected = POSTGRES_MIGRATIONS.length;
  if (version > expected) {
    throw new FleetcertError(
      'config_invalid',
      `the registry schema of ${display} (v${version}) is newer than this fleetcert (v${expected})`,
      {
        hint: 'upgrade fleetcert on this host before starting it against that database',
      },
    );
  }
  if (version < expected) {
    throw new FleetcertError('config_invalid', `the registry schema of ${display} is v${version}, this fleetcert needs v${expected}`, {
      hint: 'run "fleetcert db migrate --database <url>" once for this version, then start it',
    });
  }
}

function unreachable(err: unknown, display: string): unknown {
  if (err instanceof FleetcertError) return err;
  return new FleetcertError('config_invalid', `cannot use the registry database ${display}: ${(err as Error).message}`, {
    cause: err,
    hint: 'check --database, the password file, and that PostgreSQL accepts this host (pg_hba.conf)',
  });
}

// ---- executing SQL: on the pool (one transaction per call), or on one open transaction ----

interface Executor {
  query<R extends QueryResultRow>(sql: string, values?: unknown[]): Promise<QueryResult<R>>;
  /** Runs `work` in one transaction (retried on deadlock / serialization failure), or inside the open one. */
  transaction<T>(work: (ex: Executor) => Promise<T>): Promise<T>;
}

class PoolExecutor implements Executor {
  constructor(private readonly pool: Pool) {}

  query<R extends QueryResultRow>(sql: string, values?: unknown[]) {
    return this.pool.query<R>(sql, values);
  }

  async transaction<T>(work: (ex: Executor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const client = await this.pool.connect();
      const tx = new ClientExecutor(client);
      try {
        await client.query('BEGIN');
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (sqlState(err) === UNIQUE_VIOLATION) throw uniqueConflict(err);
        if (!RETRYABLE.has(sqlState(err) ?? '') || attempt >= ATTEMPTS || !tx.retryable) throw err;
      } finally {
        tx.open = false;
        client.release();
      }
    }
  }
}

class ClientExecutor implements Executor {
  open = true;
  /** A caller's transaction(fn) may have done other things than SQL: it is not re-run behind its back. */
  retryable = true;

  constructor(private readonly client: PoolClient) {}

  query<R extends QueryResultRow>(sql: string, values?: unknown[]) {
    if (!this.open) return Promise.reject(new FleetcertError('internal', 'registry transaction used after it ended'));
    return this.client.query<R>(sql, values);
  }

  transaction<T>(work: (ex: Executor) => Promise<T>): Promise<T> {
    return work(this);
  }
}

/**
 * A unique constraint that refused a write (one active certificate per device, a device id, a
 * serial): another writer got there first. The caller re-reads and decides again, as for any
 * compare-and-swap that found the state changed.
 */
function uniqueConflict(err: unknown): FleetcertError {
  const constraint = (err as { constraint?: unknown }).constraint;
  const name = typeof constraint === 'string' ? constraint : '?';
  return new FleetcertError('registry_conflict', `a concurrent write came first (unique constraint ${name})`, {
    cause: err,
  });
}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// ---- the registry ----

class PostgresRegistry implements Registry {
  constructor(
    private readonly ex: Executor,
    private readonly pool?: Pool,
  ) {}

  async transaction<T>(work: (tx: Registry) => Promise<T>, options: { readonly lock?: TransactionLock } = {}): Promise<T> {
    const { lock } = options;
    // READ COMMITTED alone does not order file writers (each reads, then writes its file): the advisory lock, held to
    // the transaction's end, does, whichever server they run on. Taken first, so what `work` reads was committed before it.
    const locked = async (tx: PostgresRegistry): Promise<T> => {
      if (lock) await tx.ex.query('SELECT pg_advisory_xact_lock($1)', [FILE_LOCKS[lock]]);
      return work(tx);
    };
    if (this.ex instanceof ClientExecutor) return locked(this);
    return this.ex.transaction(async (inner) => {
      (inner as ClientExecutor).retryable = false;
      return locked(new PostgresRegistry(inner));
    });
  }

  async close(): Promise<void> {
    if (!this.pool) throw new FleetcertError('internal', 'close() inside a registry transaction');
    await this.pool.end();
  }

  private async rows<R extends QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]> {
    return (await this.ex.query<R>(sql, values)).rows;
  }

  private write<T>(work: (tx: PostgresRegistry, ex: Executor) => Promise<T>): Promise<T> {
    return this.ex.transaction((ex) => work(new PostgresRegistry(ex), ex));
  }

  // ---- tokens ----

  createToken(token: TokenRecord, source: string | null): Promise<void> {
    return this.write(async (tx, ex) => {
      await ex.query(
        `INSERT INTO tokens (id, name, secret_hash, created_at, expires_at, max_uses, uses, id_pattern, labels, approval, reenroll, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, NULL)`,
        [
          token.id,
          token.name,
          token.secretHash,
          token.createdAt.getTime(),
          token.expiresAt?.getTime() ?? null,
          token.maxUses,
          token.idPattern,
          JSON.stringify(token.labels),
          token.approval,
          token.reenroll,
        ],
      );
      await tx.insertAudit({ at: token.createdAt, action: 'token_created', tokenId: token.id, source, detail: { name: token.name } });
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const [row] = await this.rows<TokenRow>('SELECT * FROM tokens WHERE id = $1', [id]);
    return row && tokenFromRow(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.rows<TokenRow>('SELECT * FROM tokens ORDER BY created_at, id')).map(tokenFromRow);
  }

  revokeToken(id: string, now: Date, source: string | null): Promise<boolean> {
    return this.write(async (tx, ex) => {
      const changed = (await ex.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now.getTime(), id]))
        .rowCount;
      if (changed) await tx.insertAudit({ at: now, action: 'token_revoked', tokenId: id, source });
      return Boolean(changed) || (await tx.getToken(id)) !== undefined;
    });
  }

  // ---- devices and certificates ----

  async getDevice(id: string): Promise<DeviceRecord | undefined> {
    const [row] = await this.rows<DeviceRow>('SELECT * FROM devices WHERE id = $1', [id]);
    return row && deviceFromRow(row);
  }

  async listDevices(status?: DeviceStatus): Promise<DeviceRecord[]> {
    const rows = status
      ? await this.rows<DeviceRow>('SELECT * FROM devices WHERE status = $1 ORDER BY id', [status])
      : await this.rows<DeviceRow>('SELECT * FROM devices ORDER BY id');
    return rows.map(deviceFromRow);
  }

  async currentCertificate(deviceId: string): Promise<CertificateRecord | undefined> {
    // SQLite breaks issued_at ties by rowid (insertion order); here the same millisecond cannot hold
    // two certificates of one device that are both not superseded except after a revoke, where either is current.
    const [row] = await this.rows<CertificateRow>(
      "SELECT * FROM certificates WHERE device_id = $1 AND status != 'superseded' ORDER BY issued_at DESC, (status = 'active') DESC LIMIT 1",
      [deviceId],
    );
    return row && certificateFromRow(row);
  }

  async activeCertificate(deviceId: string): Promise<CertificateRecord | undefined> {
    const [row] = await this.rows<CertificateRow>("SELECT * FROM certificates WHERE device_id = $1 AND status = 'active'", [deviceId]);
    return row && certificateFromRow(row);
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const [row] = await this.rows<CertificateRow>('SELECT * FROM certificates WHERE serial = $1', [serial]);
    return row && certificateFromRow(row);
  }

  async listCertificates(deviceId: string): Promise<CertificateRecord[]> {
    return (await this.rows<CertificateRow>('SELECT * FROM certificates WHERE device_id = $1 ORDER BY issued_at, serial', [deviceId])).map(
      certificateFromRow,
    );
  }

  recordIssued(record: IssueRecord): Promise<IssueOutcome> {
    return this.write(async (tx, ex) => {
      const now = record.now.getTime();
      if (record.countTokenUse && record.tokenId !== null) await tx.countTokenUse(record.tokenId, now);
      const c = record.certificate;
      const bound = { status: 'approved', key: c.keySha256 } as const;
      await tx.claimDevice(record.deviceId, record.expected, 'active', record.tokenId, record.labels, record.metadata, null, bound, now);
      const { rows: superseded } = await ex.query<{ serial: string; status: string }>(
        `UPDATE certificates SET
           status = CASE WHEN key_compromised <> 0 THEN 'revoked' ELSE 'superseded' END,
           revoked_at = CASE WHEN key_compromised <> 0 THEN $2 ELSE revoked_at END,
           revocation_reason = CASE WHEN key_compromised <> 0 THEN 'keyCompromise' ELSE revocation_reason END
         WHERE device_id = $1 AND status = 'active' RETURNING serial, status`,
        [record.deviceId, now],
      );
      if ((superseded[0]?.serial ?? null) !== record.expected.activeSerial) {
        const found = superseded[0]?.serial ?? 'none';
        throw conflict(record.deviceId, `its active certificate is ${found}, not ${record.expected.activeSerial ?? 'none'}`);
      }
      const predecessor = superseded[0]?.serial ?? null;
      const predecessorRevoked = superseded[0]?.status === 'revoked';
      await ex.query(
        `INSERT INTO certificates (serial, device_id, key_sha256, not_before, not_after, status, issued_at, pem)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)`,
        [c.serial, record.deviceId, c.keySha256, c.notBefore.getTime(), c.notAfter.getTime(), now, c.pem],
      );
      await tx.insertAudit({
        at: record.now,
        action: record.action,
        deviceId: record.deviceId,
        tokenId: record.tokenId,
        serial: c.serial,
        source: record.source,
        detail: {
          keySha256: c.keySha256,
          notAfter: c.notAfter.toISOString(),
          ...(predecessorRevoked ? { revokedPredecessor: predecessor, reason: 'keyCompromise' } : {}),
        },
      });
      return { predecessor, predecessorRevoked };
    });
  }

  recordPending(record: PendingRecord): Promise<void> {
    return this.write(async (tx) => {
      const now = record.now.getTime();
      if (record.countTokenUse) await tx.countTokenUse(record.tokenId, now);
      const { deviceId, expected, tokenId, labels, metadata, keySha256 } = record;
      const bound = { status: 'pending', key: keySha256 } as const;
      await tx.claimDevice(deviceId, expected, 'pending', tokenId, labels, metadata, keySha256, bound, now);
      await tx.insertAudit({
        at: record.now,
        action: 'pending',
        deviceId,
        tokenId,
        source: record.source,
        detail: { keySha256 },
      });
    });
  }

  approveDevice(id: string, keySha256: string, now: Date, source: string | null): Promise<DeviceRecord | undefined> {
    return this.write(async (tx, ex) => {
      const { rows } = await ex.query<DeviceRow>(
        "UPDATE devices SET status = 'approved', updated_at = $1 WHERE id = $2 AND status = 'pending' AND pending_key_sha256 = $3 RETURNING *",
        [now.getTime(), id, keySha256],
      );
      if (!rows[0]) return undefined;
      await tx.insertAudit({ at: now, action: 'approved', deviceId: id, source, detail: { keySha256 } });
      return deviceFromRow(rows[0]);
    });
  }

  resetDevice(id: string, now: Date, source: string | null): Promise<DeviceRecord | undefined> {
    return this.write(async (tx, ex) => {
      const { rows } = await ex.query<DeviceRow>(
        "UPDATE devices SET status = 'reset', pending_key_sha256 = NULL, updated_at = $1 WHERE id = $2 RETURNING *",
        [now.getTime(), id],
      );
      if (!rows[0]) return undefined;
      await tx.insertAudit({ at: now, action: 'reset', deviceId: id, source });
      return deviceFromRow(rows[0]);
    });
  }

  async touchDevice(id: string, now: Date, metadata?: Record<string, unknown>): Promise<void> {
    if (metadata) {
      await this.ex.query('UPDATE devices SET last_seen = $1, metadata = $2 WHERE id = $3', [now.getTime(), JSON.stringify(metadata), id]);
    } else {
      await this.ex.query('UPDATE devices SET last_seen = $1 WHERE id = $2', [now.getTime(), id]);
    }
  }

  revokeDevice(id: string, reason: string, now: Date, source: string | null): Promise<string[] | undefined> {
    return this.write(async (tx, ex) => {
      // The device's row lock first: an issue for it (which updates the same row) waits, then finds it revoked.
      const [row] = (await ex.query<DeviceRow>('SELECT * FROM devices WHERE id = $1 FOR UPDATE', [id])).rows;
      if (!row) return undefined;
      const t = now.getTime();
      const { rows: revoked } = await ex.query<{ serial: string; issued_at: number }>(
        `UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2
         WHERE device_id = $3 AND status != 'revoked' AND not_after > $1 RETURNING serial, issued_at`,
        [t, reason, id],
      );
      const serials = revoked.sort((a, b) => a.issued_at - b.issued_at).map((r) => r.serial);
      if (row.status === 'revoked' && serials.length === 0) return [];
      await ex.query("UPDATE devices SET status = 'revoked', pending_key_sha256 = NULL, updated_at = $1 WHERE id = $2", [t, id]);
      await tx.insertAudit({ at: now, action: 'revoked', deviceId: id, source, detail: { reason, serials } });
      return serials;
    });
  }

  requestRenewal(
    target: readonly string[] | 'all',
    reason: string,
    now: Date,
    source: string | null,
    options: RenewalOptions = {},
  ): Promise<string[]> {
    const keyCompromise = options.keyCompromise === true;
    return this.write(async (tx, ex) => {
      const ids = target === 'all' ? (await tx.listDevices('active')).map((d) => d.id) : target;
      const done: string[] = [];
      for (const id of ids) {
        const current = await tx.currentCertificate(id);
        if (!current || current.status !== 'active' || current.notAfter <= now) continue;
        await ex.query('UPDATE certificates SET renew_from = $1, key_compromised = GREATEST(key_compromised, $2) WHERE serial = $3', [
          now.getTime(),
          keyCompromise ? 1 : 0,
          current.serial,
        ]);
        const detail = keyCompromise ? { reason, keyCompromise } : { reason };
        await tx.insertAudit({ at: now, action: 'renew_requested', deviceId: id, serial: current.serial, source, detail });
        done.push(id);
      }
      return done;
    });
  }

  async revokeSuperseded(deviceId: string, provenSerial: string, now: Date, source: string | null): Promise<string[]> {
    const t = now.getTime();
    const some = await this.rows("SELECT 1 FROM certificates WHERE device_id = $1 AND status = 'superseded' AND not_after > $2 LIMIT 1", [
      deviceId,
      t,
    ]);
    if (some.length === 0) return [];
    return this.write(async (tx, ex) => {
      const serials = (
        await ex.query<{ serial: string }>(
          `UPDATE certificates SET status = 'revoked', revoked_at = $2, revocation_reason = 'superseded'
           WHERE device_id = $1 AND status = 'superseded' AND not_after > $2
             AND EXISTS (SELECT 1 FROM certificates WHERE serial = $3 AND device_id = $1 AND status = 'active')
           RETURNING serial`,
          [deviceId, t, provenSerial],
        )
      ).rows.map((r) => r.serial);
      if (serials.length > 0) {
        await tx.insertAudit({
          at: now,
          action: 'predecessors_revoked',
          deviceId,
          serial: provenSerial,
          source,
          detail: { reason: 'superseded', serials },
        });
      }
      return serials;
    });
  }

  async revokedCertificates(now: Date): Promise<RevokedEntry[]> {
    const rows = await this.rows<{ serial: string; revoked_at: number; revocation_reason: string | null }>(
      `SELECT serial, revoked_at, revocation_reason FROM certificates WHERE status = 'revoked' AND not_after > $1
       UNION ALL
       SELECT serial, revoked_at, revocation_reason FROM service_certificates WHERE revoked_at IS NOT NULL AND not_after > $1
       ORDER BY revoked_at, serial`,
      [now.getTime()],
    );
    return rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at), reason: r.revocation_reason }));
  }

  async recordReportedStatus(id: string, state: string, serial: string | null, now: Date): Promise<boolean> {
    const { rowCount } = await this.ex.query(
      'UPDATE devices SET reported_state = $1, reported_serial = $2, reported_at = $3, last_seen = GREATEST(last_seen, $3) WHERE id = $4',
      [state, serial, now.getTime(), id],
    );
    return Boolean(rowCount);
  }

  // ---- the CRL ----

  async latestCrl(): Promise<StoredCrl | undefined> {
    const [row] = await this.rows<CrlRow>('SELECT * FROM crl_state WHERE id = 1');
    return row && crlFromRow(row);
  }

  storeCrl(crl: StoredCrl, previousNumber: number | null): Promise<boolean> {
    return this.write(async (_tx, ex) => {
      // One publisher at a time, across servers, until the caller's transaction ends.
      await ex.query('SELECT pg_advisory_xact_lock($1)', [CRL_LOCK]);
      const values = [crl.crlNumber, crl.thisUpdate.getTime(), crl.nextUpdate.getTime(), crl.der];
      const { rowCount } =
        previousNumber === null
          ? await ex.query('INSERT INTO crl_state VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', values)
          : await ex.query(
              'UPDATE crl_state SET crl_number = $1, this_update = $2, next_update = $3, der = $4 WHERE id = 1 AND crl_number = $5 AND $1 > $5',
              [...values, previousNumber],
            );
      return Boolean(rowCount);
    });
  }

  // ---- audit ----

  audit(entry: NewAuditEntry): Promise<void> {
    return this.insertAudit(entry);
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const rows = await this.rows<AuditRow>(
      `SELECT * FROM audit
       WHERE ($1::text IS NULL OR device_id = $1) AND ($2::text IS NULL OR action = $2) AND ($3::bigint IS NULL OR seq < $3)
       ORDER BY seq DESC LIMIT $4`,
      [filter.deviceId ?? null, filter.action ?? null, filter.beforeSeq ?? null, filter.limit ?? 100],
    );
    return rows.reverse().map(auditFromRow);
  }

  async countAudit(actions: readonly string[], since: Date): Promise<AuditCount[]> {
    const rows = await this.rows<{ hour: number; action: AuditAction; code: string | null; count: number }>(
      `SELECT (at / 3600000) * 3600000 AS hour, action, code, count(*) AS count FROM audit
       WHERE at >= $1 AND action = ANY($2::text[])
       GROUP BY hour, action, code ORDER BY hour, action COLLATE "C", code COLLATE "C" NULLS FIRST`,
      [since.getTime(), actions],
    );
    return rows.map((r) => ({ hour: new Date(r.hour), action: r.action, code: r.code, count: r.count }));
  }

  async contestedAttempts(deviceId: string): Promise<ContestedAttempt[]> {
    const rows = await this.rows<AuditRow>(
      `SELECT * FROM audit
       WHERE device_id = $1 AND action = 'refused' AND code = 'id_pending'
         AND seq > COALESCE((SELECT max(seq) FROM audit WHERE device_id = $1 AND action IN ('pending', 'reset')), 0)
       ORDER BY seq`,
      [deviceId],
    );
    return rows.map(auditFromRow).map((a) => ({
      at: a.at,
      keySha256: typeof a.detail?.keySha256 === 'string' ? a.detail.keySha256 : null,
      source: a.source,
      tokenId: a.tokenId,
    }));
  }

  async listRefusals(filter: { since: Date; deviceId?: string; limit?: number }): Promise<RefusalGroup[]> {
    const rows = await this.rows<{
      device_id: string | null;
      source: string | null;
      code: string | null;
      count: number;
      first_at: number;
      last_at: number;
    }>(
      // NULLS FIRST and byte order: the order SQLite gives (a refusal with no device id sorts first among equals).
      `SELECT device_id, source, code, count(*) AS count, min(at) AS first_at, max(at) AS last_at FROM audit
       WHERE action = 'refused' AND at >= $1 AND ($2::text IS NULL OR device_id = $2)
       GROUP BY device_id, source, code ORDER BY last_at DESC, device_id COLLATE "C" NULLS FIRST LIMIT $3`,
      [filter.since.getTime(), filter.deviceId ?? null, filter.limit ?? 1000],
    );
    return rows.map((r) => ({
      deviceId: r.device_id,
      source: r.source,
      code: r.code,
      count: r.count,
      firstAt: new Date(r.first_at),
      lastAt: new Date(r.last_at),
    }));
  }

  async listTakeoverFlags(filter: { since: Date; deviceId?: string }): Promise<TakeoverFlag[]> {
    const rows = await this.rows<{ device_id: string; flags: number; first_at: number; last_at: number }>(
      `SELECT device_id, count(*) AS flags, min(at) AS first_at, max(at) AS last_at FROM audit
       WHERE action = 'session_takeover' AND at >= $1 AND device_id IS NOT NULL AND ($2::text IS NULL OR device_id = $2)
       GROUP BY device_id ORDER BY last_at DESC, device_id COLLATE "C"`,
      [filter.since.getTime(), filter.deviceId ?? null],
    );
    return rows.map((r) => ({ deviceId: r.device_id, flags: r.flags, firstAt: new Date(r.first_at), lastAt: new Date(r.last_at) }));
  }

  // ---- fleet views ----

  async queryDevices(query: DeviceQuery): Promise<DevicePage> {
    // ILIKE: the search is case-insensitive, as SQLite's LIKE is.
    const where = `
      WHERE ($1::text IS NULL OR d.status = $1)
        AND ($2::text IS NULL OR d.id ILIKE $2 ESCAPE '\\' OR d.labels ILIKE $2 ESCAPE '\\')
        AND ($3::bigint IS NULL OR (c.status = 'active' AND c.not_after < $3))
        AND ($4::bigint IS NULL OR d.last_seen < $4)`;
    // The current certificate: the newest one that is not superseded (as currentCertificate).
    const from = `FROM devices d LEFT JOIN certificates c ON c.serial = (
        SELECT serial FROM certificates WHERE device_id = d.id AND status != 'superseded'
        ORDER BY issued_at DESC, (status = 'active') DESC LIMIT 1)`;
    const params = [
      query.status ?? null,
      query.search ? containsPattern(query.search) : null,
      query.expiringBefore?.getTime() ?? null,
      query.silentSince?.getTime() ?? null,
    ];
    const [counted] = await this.rows<{ n: number }>(`SELECT count(*) AS n ${from} ${where}`, params);
    const direction = query.descending ? 'DESC' : 'ASC';
    // Devices without a certificate sort after those with one, whichever the direction.
    const nullsLast = query.sort === 'expires' ? 'c.not_after IS NULL, ' : '';
    const order = `${nullsLast}${DEVICE_ORDER[query.sort ?? 'id']} ${direction}, ${DEVICE_ORDER.id} ${direction}`;
    const columns = CERTIFICATE_COLUMNS.map((c) => `c.${c} AS c_${c}`).join(', ');
    const rows = await this.rows<DeviceSummaryRow>(`SELECT d.*, ${columns} ${from} ${where} ORDER BY ${order} LIMIT $5 OFFSET $6`, [
      ...params,
      query.limit ?? null,
      query.offset ?? 0,
    ]);
    return {
      total: counted?.n ?? 0,
      devices: rows.map((r) => ({ device: deviceFromRow(r), current: r.c_serial === null ? undefined : certificateFromRow(unprefix(r)) })),
    };
  }

  async fleetSummary(now: Date, horizonDays: number): Promise<FleetSummary> {
    const byStatus = Object.fromEntries(DEVICE_STATUSES.map((s) => [s, 0])) as Record<DeviceStatus, number>;
    for (const r of await this.rows<{ status: string; n: number }>('SELECT status, count(*) AS n FROM devices GROUP BY status')) {
      byStatus[oneOf('devices', '*', 'status', r.status, DEVICE_STATUSES)] = r.n;
    }
    const t = now.getTime();
    const expiringPerDay: number[] = Array.from({ length: horizonDays }, () => 0);
    const perDay = await this.rows<{ day: number; n: number }>(
      `SELECT (not_after - $1) / ${DAY_MS} AS day, count(*) AS n FROM certificates
       WHERE status = 'active' AND not_after >= $1 AND not_after < $2 GROUP BY day`,
      [t, t + horizonDays * DAY_MS],
    );
    for (const r of perDay) expiringPerDay[r.day] = r.n;
    const [counts] = await this.rows<{ online: number; expired: number; certificates: number; audit_entries: number }>(
      `SELECT (SELECT count(*) FROM devices WHERE reported_state IN ('online', 'renewing')) AS online,
              (SELECT count(*) FROM certificates WHERE status = 'active' AND not_after < $1) AS expired,
              (SELECT count(*) FROM certificates) AS certificates,
              (SELECT count(*) FROM audit) AS audit_entries`,
      [t],
    );
    return {
      byStatus,
      online: counts!.online,
      expiringPerDay,
      expired: counts!.expired,
      certificates: counts!.certificates,
      auditEntries: counts!.audit_entries,
    };
  }

  // ---- console administrators ----

  saveAdmin(change: AdminChange): Promise<AdminRecord> {
    return this.write(async (tx, ex) => {
      const now = change.now.getTime();
      const { rows } = await ex.query<AdminRow>(
        `INSERT INTO admins (name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (name) DO UPDATE SET role = $2, password_hash = COALESCE($3, admins.password_hash), updated_at = $4
         RETURNING *`,
        [change.name, change.role, change.passwordHash ?? null, now],
      );
      if (change.certificate) {
        await ex.query('INSERT INTO admin_certificates (serial, admin_name, not_after, issued_at) VALUES ($1, $2, $3, $4)', [
          change.certificate.serial,
          change.name,
          change.certificate.notAfter.getTime(),
          now,
        ]);
      }
      const detail = { admin: change.name, role: change.role, password: change.passwordHash !== undefined };
      await tx.insertAudit({
        at: change.now,
        action: 'admin_saved',
        serial: change.certificate?.serial ?? null,
        source: change.source,
        detail,
      });
      return adminFromRow(rows[0]!);
    });
  }

  async getAdmin(name: string): Promise<AdminRecord | undefined> {
    const [row] = await this.rows<AdminRow>('SELECT * FROM admins WHERE name = $1', [name]);
    return row && adminFromRow(row);
  }

  removeAdmin(name: string, now: Date, source: string | null): Promise<boolean> {
    return this.write(async (tx, ex) => {
      const certificates = (await ex.query('DELETE FROM admin_certificates WHERE admin_name = $1', [name])).rowCount ?? 0;
      if (!(await ex.query('DELETE FROM admins WHERE name = $1', [name])).rowCount) return false;
      await tx.insertAudit({ at: now, action: 'admin_removed', source, detail: { admin: name, certificates } });
      return true;
    });
  }

  async adminByCertificate(serial: string, now: Date): Promise<AdminRecord | undefined> {
    const [row] = await this.rows<AdminRow>(
      'SELECT a.* FROM admin_certificates c JOIN admins a ON a.name = c.admin_name WHERE c.serial = $1 AND c.not_after > $2',
      [serial, now.getTime()],
    );
    return row && adminFromRow(row);
  }

  // ---- backend consumers (services) ----

  saveService(change: ServiceChange): Promise<ServiceRecord | undefined> {
    return this.write(async (tx, ex) => {
      const now = change.now.getTime();
      if (change.grants) {
        await ex.query(
          `INSERT INTO services (name, read_filters, write_filters, status, created_at, updated_at) VALUES ($1, $2, $3, 'active', $4, $4)
           ON CONFLICT (name) DO UPDATE SET read_filters = $2, write_filters = $3, status = 'active', updated_at = $4`,
          [change.name, JSON.stringify(change.grants.read), JSON.stringify(change.grants.write), now],
        );
      } else {
        // The renewal's compare-and-swap: a revoke holding the row makes this wait, then find it revoked.
        const { rowCount } = await ex.query("UPDATE services SET updated_at = $1 WHERE name = $2 AND status = 'active'", [
          now,
          change.name,
        ]);
        if (!rowCount) return undefined;
      }
      await ex.query('INSERT INTO service_certificates (serial, service_name, not_after, issued_at) VALUES ($1, $2, $3, $4)', [
        change.certificate.serial,
        change.name,
        change.certificate.notAfter.getTime(),
        now,
      ]);
      const detail = { service: change.name, ...(change.grants ?? { renewal: true }) };
      await tx.insertAudit({ at: change.now, action: 'service_saved', serial: change.certificate.serial, source: change.source, detail });
      return (await tx.getService(change.name))!;
    });
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    const [row] = await this.rows<ServiceRow>('SELECT * FROM services WHERE name = $1', [name]);
    if (!row) return undefined;
    const certificates = await this.rows<ServiceCertificateRow>(
      `SELECT ${SERVICE_CERTIFICATE_COLUMNS} FROM service_certificates WHERE service_name = $1 ORDER BY issued_at, serial`,
      [name],
    );
    return serviceFromRows(row, certificates);
  }

  async listServices(): Promise<ServiceRecord[]> {
    // Two reads, not one snapshot (READ COMMITTED): a certificate recorded between them is simply listed, or not yet.
    const services = await this.rows<ServiceRow>('SELECT * FROM services ORDER BY name');
    const certificates = await this.rows<ServiceCertificateRow & { service_name: string }>(
      `SELECT service_name, ${SERVICE_CERTIFICATE_COLUMNS} FROM service_certificates ORDER BY issued_at, serial`,
    );
    const byService = new Map<string, ServiceCertificateRow[]>();
    for (const c of certificates) {
      const list = byService.get(c.service_name);
      if (list) list.push(c);
      else byService.set(c.service_name, [c]);
    }
    return services.map((row) => serviceFromRows(row, byService.get(row.name) ?? []));
  }

  revokeService(name: string, reason: string, now: Date, source: string | null): Promise<string[] | undefined> {
    return this.write(async (tx, ex) => {
      const t = now.getTime();
      // Takes the service's row lock first: a renewal (saveService) waits for it and then finds the service revoked.
      if (!(await ex.query("UPDATE services SET status = 'revoked', updated_at = $1 WHERE name = $2", [t, name])).rowCount)
        return undefined;
      const { rows } = await ex.query<{ serial: string }>(
        `UPDATE service_certificates SET revoked_at = $1, revocation_reason = $2
         WHERE service_name = $3 AND revoked_at IS NULL AND not_after > $1 RETURNING serial`,
        [t, reason, name],
      );
      const serials = rows.map((r) => r.serial).sort();
      await tx.insertAudit({ at: now, action: 'service_revoked', source, detail: { service: name, reason, serials } });
      return serials;
    });
  }

  // ---- internals (run inside a write's transaction) ----

  private async countTokenUse(tokenId: string, now: number): Promise<void> {
    const { rowCount } = await this.ex.query(
      `UPDATE tokens SET uses = uses + 1
       WHERE id = $1 AND (max_uses IS NULL OR uses < max_uses) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
       RETURNING uses`,
      [tokenId, now],
    );
    if (rowCount) return;
    const token = await this.getToken(tokenId);
    if (token?.revokedAt) throw new FleetcertError('token_revoked', `token ${tokenId} was revoked`);
    if (token?.expiresAt && token.expiresAt.getTime() <= now) throw new FleetcertError('token_expired', `token ${tokenId} has expired`);
    throw new FleetcertError('token_exhausted', `token ${tokenId} has no enrollments left`);
  }

  /** As SqliteStore.claimDevice: INSERT from 'absent', else UPDATE only from the expected state; a waiting id stays bound to its key. */
  private async claimDevice(
    id: string,
    expected: DeviceExpectation,
    status: DeviceStatus,
    tokenId: string | null,
    labels: Labels,
    metadata: Record<string, unknown> | undefined,
    pendingKey: string | null,
    bound: { readonly status: 'pending' | 'approved'; readonly key: string },
    now: number,
  ): Promise<void> {
    const labelsText = JSON.stringify(labels);
    if (expected.status === 'absent') {
      const { rowCount } = await this.ex.query(
        `INSERT INTO devices (id, status, token_id, labels, metadata, pending_key_sha256, first_seen, last_seen, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7) ON CONFLICT (id) DO NOTHING`,
        [id, status, tokenId, labelsText, JSON.stringify(metadata ?? {}), pendingKey, now],
      );
      if (!rowCount) throw conflict(id, 'it was enrolled meanwhile');
      return;
    }
    const { rowCount } = await this.ex.query(
      `UPDATE devices SET
         status = $2,
         token_id = COALESCE($3, token_id),
         labels = $4,
         metadata = COALESCE($5, metadata),
         pending_key_sha256 = $6,
         last_seen = $7,
         updated_at = $7
       WHERE id = $1 AND status = $8 AND pending_key_sha256 IS NOT DISTINCT FROM $9
         AND (status NOT IN ('pending', 'approved') OR (status = $10 AND pending_key_sha256 = $11))`,
      [
        id,
        status,
        tokenId,
        labelsText,
        metadata ? JSON.stringify(metadata) : null,
        pendingKey,
        now,
        expected.status,
        expected.pendingKeySha256,
        bound.status,
        bound.key,
      ],
    );
    if (rowCount) return;
    const found = await this.getDevice(id);
    if (found?.status === expected.status && found.pendingKeySha256 === expected.pendingKeySha256) {
      throw new FleetcertError('id_pending', `device "${id}" is ${found.status} for key ${found.pendingKeySha256}, not ${bound.key}`);
    }
    throw conflict(id, `it is no longer ${expected.status}`);
  }

  private async insertAudit(entry: NewAuditEntry): Promise<void> {
    await this.ex.query(
      'INSERT INTO audit (at, action, device_id, token_id, serial, code, source, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [
        entry.at.getTime(),
        entry.action,
        entry.deviceId ?? null,
        entry.tokenId ?? null,
        entry.serial ?? null,
        entry.code ?? null,
        entry.source ?? null,
        entry.detail ? JSON.stringify(entry.detail) : null,
      ],
    );
  }
}
