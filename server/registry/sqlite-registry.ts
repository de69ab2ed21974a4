/**
 * The SQLite registry (better-sqlite3, WAL, so the admin CLI reads while the server writes):
 * the embedded default behind the Registry interface. Every state change is one IMMEDIATE
 * transaction with its preconditions in the SQL (compare-and-swap), so it holds against other
 * processes on the same file. No SQL leaves this module and its migrations.
 *
 * better-sqlite3 is synchronous: `SqliteStore` does the work, `SqliteRegistry` gives it the
 * asynchronous interface and makes `transaction(fn)` safe across awaits (BEGIN IMMEDIATE, and
 * an in-process gate so no other call of this process lands inside the open transaction).
 */
import Database from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { FleetcertError } from '../../shared/errors.js';
import type {
  AdminChange,
  AdminRecord,
  AdminRole,
  ApprovalMode,
  AuditAction,
  AuditCount,
  AuditEntry,
  AuditFilter,
  CertificateRecord,
  CertificateStatus,
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
  ReenrollMode,
  RefusalGroup,
  RevokedEntry,
  TakeoverFlag,
  StoredCrl,
  ServiceChange,
  ServiceRecord,
  TokenRecord,
} from './records.js';
import { ADMIN_ROLES, APPROVAL_MODES, CERTIFICATE_STATUSES, DEVICE_STATUSES, REENROLL_MODES, SERVICE_STATUSES } from './records.js';
import type { Registry, RenewalOptions, TransactionLock } from './registry.js';
import { SqliteGroupCommit } from './sqlite-group-commit.js';
import { MIGRATIONS } from './sqlite-migrations.js';

export interface TokenRow {
  id: string;
  name: string;
  secret_hash: Buffer;
  created_at: number;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  id_pattern: string | null;
  labels: string;
  approval: ApprovalMode;
  reenroll: ReenrollMode;
  revoked_at: number | null;
}
export interface DeviceRow {
  id: string;
  status: DeviceStatus;
  token_id: string | null;
  labels: string;
  metadata: string;
  pending_key_sha256: string | null;
  first_seen: number;
  last_seen: number;
  updated_at: number;
  reported_state: string | null;
  reported_serial: string | null;
  reported_at: number | null;
}
export interface CertificateRow {
  serial: string;
  device_id: string;
  key_sha256: string;
  not_before: number;
  not_after: number;
  status: CertificateStatus;
  issued_at: number;
  revoked_at: number | null;
  revocation_reason: string | null;
  pem: string;
  renew_from: number | null;
  key_compromised: number;
}
export interface AuditRow {
  seq: number;
  at: number;
  action: AuditAction;
  device_id: string | null;
  token_id: string | null;
  serial: string | null;
  code: string | null;
  source: string | null;
  detail: string | null;
}

export interface ServiceRow {
  name: string;
  read_filters: string;
  write_filters: string;
  status: string;
  created_at: number;
  updated_at: number;
}

export interface ServiceCertificateRow {
  serial: string;
  not_after: number;
  issued_at: number;
  revoked_at: number | null;
}

export interface AdminRow {
  name: string;
  role: AdminRole;
  password_hash: string | null;
  created_at: number;
  updated_at: number;
}
/** A device row joined with its current certificate's columns, prefixed `c_`. */
export type DeviceSummaryRow = DeviceRow & { [K in keyof CertificateRow as `c_${K}`]: CertificateRow[K] | null };

/** The sort keys of the device list and the columns they order by (ties broken by id). */
const DEVICE_ORDER: Readonly<Record<DeviceSort, string>> = {
  id: 'd.id',
  status: 'd.status',
  last_seen: 'd.last_seen',
  expires: 'c.not_after',
};
export const DAY_MS = 86_400_000;
export interface CrlRow {
  crl_number: number;
  this_update: number;
  next_update: number;
  der: Buffer;
}

const date = (ms: number) => new Date(ms);
const maybeDate = (ms: number | null) => (ms === null ? null : new Date(ms));

/** Opens (creating if needed) and migrates the SQLite registry; the file is made 0600. */
export async function openSqliteRegistry(file: string, options: { readonly?: boolean } = {}): Promise<Registry> {
  return new SqliteRegistry(SqliteStore.open(file, options));
}

/** The synchronous work on one connection. Not exported: callers get the Registry interface. */
class SqliteStore {
  private constructor(readonly db: Database.Database) {}

  static open(file: string, options: { readonly?: boolean } = {}): SqliteStore {
    let db: Database.Database;
    try {
      // Create the file 0600 ourselves: SQLite would use 0644, and the -wal/-shm files copy its mode.
      if (!options.readonly) closeSync(openSync(file, 'a', 0o600));
      db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    } catch (err) {
      throw new FleetcertError('config_invalid', `cannot open the registry ${file}: ${(err as Error).message}`, { cause: err });
    }
    db.pragma('busy_timeout = 5000');
    reusePreparedStatements(db);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
    }
    return new SqliteStore(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- tokens ----

  createToken(token: TokenRecord, source: string | null): void {
    this.write(() => {
      this.db
        .prepare(
          `INSERT INTO tokens (id, name, secret_hash, created_at, expires_at, max_uses, uses, id_pattern, labels, approval, reenroll, revoked_at)
           VALUES (@id, @name, @secret_hash, @created_at, @expires_at, @max_uses, 0, @id_pattern, @labels, @approval, @reenroll, NULL)`,
        )
        .run({
          id: token.id,
          name: token.name,
          secret_hash: token.secretHash,
          created_at: token.createdAt.getTime(),
          expires_at: token.expiresAt?.getTime() ?? null,
          max_uses: token.maxUses,
          id_pattern: token.idPattern,
          labels: JSON.stringify(token.labels),
          approval: token.approval,
          reenroll: token.reenroll,
        });
      this.insertAudit({ at: token.createdAt, action: 'token_created', tokenId: token.id, source, detail: { name: token.name } });
    });
  }

  getToken(id: string): TokenRecord | undefined {
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
    return row && tokenFromRow(row);
  }

  listTokens(): TokenRecord[] {
    return (this.db.prepare('SELECT * FROM tokens ORDER BY created_at, id').all() as TokenRow[]).map(tokenFromRow);
  }

  /** Marks a token revoked. Devices enrolled with it are not affected. False if unknown. */
  revokeToken(id: string, now: Date, source: string | null): boolean {
    return this.write(() => {
      const changed = this.db
        .prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
        .run(now.getTime(), id).changes;
      if (changed > 0) this.insertAudit({ at: now, action: 'token_revoked', tokenId: id, source });
      return changed > 0 || this.getToken(id) !== undefined;
    });
  }

  // ---- devices and certificates ----

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
    return row && deviceFromRow(row);
  }

  listDevices(status?: DeviceStatus): DeviceRecord[] {
    const rows = status
      ? (this.db.prepare('SELECT * FROM devices WHERE status = ? ORDER BY id').all(status) as DeviceRow[])
      : (this.db.prepare('SELECT * FROM devices ORDER BY id').all() as DeviceRow[]);
    return rows.map(deviceFromRow);
  }

  /** The device's newest certificate that is not superseded (it may be revoked or expired). */
  currentCertificate(deviceId: string): CertificateRecord | undefined {
    const row = this.db
      .prepare("SELECT * FROM certificates WHERE device_id = ? AND status != 'superseded' ORDER BY issued_at DESC, rowid DESC LIMIT 1")
      .get(deviceId) as CertificateRow | undefined;
    return row && certificateFromRow(row);
  }

  /** The device's active certificate, if it has one (a constraint allows at most one). */
  activeCertificate(deviceId: string): CertificateRecord | undefined {
    const row = this.db.prepare("SELECT * FROM certificates WHERE device_id = ? AND status = 'active'").get(deviceId) as
      CertificateRow | undefined;
    return row && certificateFromRow(row);
  }

  getCertificate(serial: string): CertificateRecord | undefined {
    const row = this.db.prepare('SELECT * FROM certificates WHERE serial = ?').get(serial) as CertificateRow | undefined;
    return row && certificateFromRow(row);
  }

  listCertificates(deviceId: string): CertificateRecord[] {
    return (
      this.db.prepare('SELECT * FROM certificates WHERE device_id = ? ORDER BY issued_at, rowid').all(deviceId) as CertificateRow[]
    ).map(certificateFromRow);
  }

  /**
   * Records an issued certificate in one transaction: the device becomes active (created if
   * new), earlier active certificates are superseded, the token use is counted (refused with
   * token_exhausted when none is left, nothing written), the decision is audited.
   */
  recordIssued(record: IssueRecord): IssueOutcome {
    return this.write(() => {
      const now = record.now.getTime();
      if (record.countTokenUse && record.tokenId !== null) this.countTokenUse(record.tokenId, now);
      const c = record.certificate;
      // A waiting id gets its certificate only once approved, and only for the approved key.
      const bound = { status: 'approved', key: c.keySha256 } as const;
      this.claimDevice(record.deviceId, record.expected, 'active', record.tokenId, record.labels, record.metadata, null, bound, now);
      // A predecessor marked key-compromised (renew-now --key-compromise) is revoked now, in this
      // same write: its key must stop opening anything the moment a successor exists.
      const superseded = this.db
        .prepare(
          `UPDATE certificates SET
             status = CASE WHEN key_compromised THEN 'revoked' ELSE 'superseded' END,
             revoked_at = CASE WHEN key_compromised THEN @now ELSE revoked_at END,
             revocation_reason = CASE WHEN key_compromised THEN 'keyCompromise' ELSE revocation_reason END
           WHERE device_id = @id AND status = 'active' RETURNING serial, status`,
        )
        .all({ id: record.deviceId, now }) as { serial: string; status: CertificateStatus }[];
      // The unique index allows one active certificate: it must be the one the decision saw.
      if ((superseded[0]?.serial ?? null) !== record.expected.activeSerial) {
        const found = superseded[0]?.serial ?? 'none';
        throw conflict(record.deviceId, `its active certificate is ${found}, not ${record.expected.activeSerial ?? 'none'}`);
      }
      const predecessor = superseded[0]?.serial ?? null;
      const predecessorRevoked = superseded[0]?.status === 'revoked';
      this.db
        .prepare(
          `INSERT INTO certificates (serial, device_id, key_sha256, not_before, not_after, status, issued_at, pem)
           VALUES (?, ?, ?, ?, ?, 'active', ?, ?)`,
        )
        .run(c.serial, record.deviceId, c.keySha256, c.notBefore.getTime(), c.notAfter.getTime(), now, c.pem);
      this.insertAudit({
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

  /** Records a device waiting for approval of this key: it binds the id, and never replaces another waiting key. */
  recordPending(record: PendingRecord): void {
    this.write(() => {
      const now = record.now.getTime();
      if (record.countTokenUse) this.countTokenUse(record.tokenId, now);
      const { deviceId, expected, tokenId, labels, metadata, keySha256 } = record;
      this.claimDevice(deviceId, expected, 'pending', tokenId, labels, metadata, keySha256, { status: 'pending', key: keySha256 }, now);
      this.insertAudit({
        at: record.now,
        action: 'pending',
        deviceId: record.deviceId,
        tokenId: record.tokenId,
        source: record.source,
        detail: { keySha256: record.keySha256 },
      });
    });
  }

  /** Operator approval of a device pending with this key. The new record, or undefined if it is not (any more). */
  approveDevice(id: string, keySha256: string, now: Date, source: string | null): DeviceRecord | undefined {
    return this.write(() => {
      const changed = this.db
        .prepare("UPDATE devices SET status = 'approved', updated_at = ? WHERE id = ? AND status = 'pending' AND pending_key_sha256 = ?")
        .run(now.getTime(), id, keySha256).changes;
      if (changed === 0) return undefined;
      this.insertAudit({ at: now, action: 'approved', deviceId: id, source, detail: { keySha256 } });
      return this.getDevice(id);
    });
  }

  /**
   * Operator reset: the id may be bound again by the next enrollment (a re-flashed board).
   * Certificates already issued are left as they are (revocation is a separate decision).
   */
  resetDevice(id: string, now: Date, source: string | null): DeviceRecord | undefined {
    return this.write(() => {
      const changed = this.db
        .prepare("UPDATE devices SET status = 'reset', pending_key_sha256 = NULL, updated_at = ? WHERE id = ?")
        .run(now.getTime(), id).changes;
      if (changed === 0) return undefined;
      this.insertAudit({ at: now, action: 'reset', deviceId: id, source });
      return this.getDevice(id);
    });
  }

  /** Updates last_seen (and metadata, when given) of a known device. */
  touchDevice(id: string, now: Date, metadata?: Record<string, unknown>): void {
    if (metadata) {
      this.db.prepare('UPDATE devices SET last_seen = ?, metadata = ? WHERE id = ?').run(now.getTime(), JSON.stringify(metadata), id);
    } else {
      this.db.prepare('UPDATE devices SET last_seen = ? WHERE id = ?').run(now.getTime(), id);
    }
  }

  /**
   * Revokes a device and every certificate of it that has not expired, in one transaction.
   * Returns the serials revoked now, or undefined when the device is unknown. Revoking a
   * revoked device again changes nothing and returns [].
   */
  revokeDevice(id: string, reason: string, now: Date, source: string | null): string[] | undefined {
    return this.write(() => {
      const device = this.getDevice(id);
      if (!device) return undefined;
      const serials = (
        this.db
          .prepare("SELECT serial FROM certificates WHERE device_id = ? AND status != 'revoked' AND not_after > ? ORDER BY issued_at")
          .all(id, now.getTime()) as { serial: string }[]
      ).map((r) => r.serial);
      if (device.status === 'revoked' && serials.length === 0) return [];
      this.db
        .prepare(
          "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE device_id = ? AND status != 'revoked' AND not_after > ?",
        )
        .run(now.getTime(), reason, id, now.getTime());
      this.db
        .prepare("UPDATE devices SET status = 'revoked', pending_key_sha256 = NULL, updated_at = ? WHERE id = ?")
        .run(now.getTime(), id);
      this.insertAudit({ at: now, action: 'revoked', deviceId: id, source, detail: { reason, serials } });
      return serials;
    });
  }

  /**
   * An operator's "renew now": the current, unexpired, unrevoked certificate of each named
   * device (or of every active device) should renew from `now` on. One transaction, one audit
   * row per device. Returns the ids it applied to.
   */
  requestRenewal(target: readonly string[] | 'all', reason: string, now: Date, source: string | null, options: RenewalOptions = {}) {
    const keyCompromise = options.keyCompromise === true;
    return this.write(() => {
      const ids = target === 'all' ? this.listDevices('active').map((d) => d.id) : target;
      const done: string[] = [];
      for (const id of ids) {
        const current = this.currentCertificate(id);
        if (!current || current.status !== 'active' || current.notAfter <= now) continue;
        // A key-compromise mark is never taken back by a later, plain renew-now.
        this.db
          .prepare('UPDATE certificates SET renew_from = ?, key_compromised = MAX(key_compromised, ?) WHERE serial = ?')
          .run(now.getTime(), keyCompromise ? 1 : 0, current.serial);
        const detail = keyCompromise ? { reason, keyCompromise } : { reason };
        this.insertAudit({ at: now, action: 'renew_requested', deviceId: id, serial: current.serial, source, detail });
        done.push(id);
      }
      return done;
    });
  }

  /** Revoked certificates that have not expired yet: the entries of the next CRL. */
  revokedCertificates(now: Date): RevokedEntry[] {
    const rows = this.db
      .prepare(
        `SELECT serial, revoked_at, revocation_reason FROM certificates WHERE status = 'revoked' AND not_after > @now
         UNION ALL
         SELECT serial, revoked_at, revocation_reason FROM service_certificates WHERE revoked_at IS NOT NULL AND not_after > @now
         ORDER BY revoked_at, serial`,
      )
      .all({ now: now.getTime() }) as { serial: string; revoked_at: number; revocation_reason: string | null }[];
    return rows.map((r) => ({ serial: r.serial, revokedAt: date(r.revoked_at), reason: r.revocation_reason }));
  }

  /**
   * The device proved `provenSerial` (it connected or made a request with it): revoke, reason
   * `superseded`, every unexpired certificate of the device that it superseded. Applies only
   * while `provenSerial` is still the device's active certificate (compare-and-swap, in the
   * statement itself). Returns the serials revoked now ([] when there were none).
   */
  /** Whether the device has a superseded certificate that has not expired: what revokeSuperseded would revoke. */
  hasUnexpiredSuperseded(deviceId: string, now: Date): boolean {
    return (
      this.db
        .prepare("SELECT 1 FROM certificates WHERE device_id = ? AND status = 'superseded' AND not_after > ? LIMIT 1")
        .get(deviceId, now.getTime()) !== undefined
    );
  }

  revokeSuperseded(deviceId: string, provenSerial: string, now: Date, source: string | null): string[] {
    const t = now.getTime();
    return this.write(() => {
      const serials = (
        this.db
          .prepare(
            `UPDATE certificates SET status = 'revoked', revoked_at = @now, revocation_reason = 'superseded'
             WHERE device_id = @id AND status = 'superseded' AND not_after > @now
               AND EXISTS (SELECT 1 FROM certificates WHERE serial = @proven AND device_id = @id AND status = 'active')
             RETURNING serial`,
          )
          .all({ id: deviceId, now: t, proven: provenSerial }) as { serial: string }[]
      ).map((r) => r.serial);
      if (serials.length > 0) {
        const detail = { reason: 'superseded', serials };
        this.insertAudit({ at: now, action: 'predecessors_revoked', deviceId, serial: provenSerial, source, detail });
      }
      return serials;
    });
  }

  /** Records a status message from a known device (unknown ids are ignored: nothing to attach it to). */
  recordReportedStatus(id: string, state: string, serial: string | null, now: Date): boolean {
    return (
      this.db
        .prepare('UPDATE devices SET reported_state = ?, reported_serial = ?, reported_at = ?, last_seen = MAX(last_seen, ?) WHERE id = ?')
        .run(state, serial, now.getTime(), now.getTime(), id).changes > 0
    );
  }

  // ---- the CRL ----

  latestCrl(): StoredCrl | undefined {
    const row = this.db.prepare('SELECT * FROM crl_state WHERE id = 1').get() as CrlRow | undefined;
    return row && crlFromRow(row);
  }

  /** Compare-and-swap on the stored number; the IMMEDIATE transaction around it is the publication lock. */
  storeCrl(crl: StoredCrl, previousNumber: number | null): boolean {
    return this.write(() => {
      const values = [crl.crlNumber, crl.thisUpdate.getTime(), crl.nextUpdate.getTime(), crl.der] as const;
      if (previousNumber === null) {
        return this.db.prepare('INSERT INTO crl_state VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING').run(...values).changes > 0;
      }
      return (
        this.db
          .prepare(
            'UPDATE crl_state SET crl_number = ?, this_update = ?, next_update = ?, der = ? WHERE id = 1 AND crl_number = ? AND ? > ?',
          )
          .run(...values, previousNumber, crl.crlNumber, previousNumber).changes > 0
      );
    });
  }

  // ---- audit ----

  audit(entry: NewAuditEntry): void {
    this.insertAudit(entry);
  }

  listAudit(filter: AuditFilter = {}): AuditEntry[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM audit
         WHERE (@device IS NULL OR device_id = @device) AND (@action IS NULL OR action = @action) AND (@before IS NULL OR seq < @before)
         ORDER BY seq DESC LIMIT @limit`,
      )
      .all({
        device: filter.deviceId ?? null,
        action: filter.action ?? null,
        before: filter.beforeSeq ?? null,
        limit: filter.limit ?? 100,
      }) as AuditRow[];
    return rows.reverse().map(auditFromRow);
  }

  countAudit(actions: readonly string[], since: Date): AuditCount[] {
    const rows = this.db
      .prepare(
        `SELECT (at / 3600000) * 3600000 AS hour, action, code, count(*) AS count FROM audit
         WHERE at >= @since AND action IN (SELECT value FROM json_each(@actions))
         GROUP BY hour, action, code ORDER BY hour, action, code`,
      )
      .all({ since: since.getTime(), actions: JSON.stringify(actions) }) as {
      hour: number;
      action: AuditAction;
      code: string | null;
      count: number;
    }[];
    return rows.map((r) => ({ hour: date(r.hour), action: r.action, code: r.code, count: r.count }));
  }

  // ---- fleet views ----

  queryDevices(query: DeviceQuery): DevicePage {
    const where = `
      WHERE (@status IS NULL OR d.status = @status)
        AND (@search IS NULL OR d.id LIKE @search ESCAPE '\\' OR d.labels LIKE @search ESCAPE '\\')
        AND (@expiring IS NULL OR (c.status = 'active' AND c.not_after < @expiring))
        AND (@silent IS NULL OR d.last_seen < @silent)`;
    // The current certificate: the newest one that is not superseded (as currentCertificate).
    const from = `FROM devices d LEFT JOIN certificates c ON c.serial = (
        SELECT serial FROM certificates WHERE device_id = d.id AND status != 'superseded' ORDER BY issued_at DESC, rowid DESC LIMIT 1)`;
    const params = {
      status: query.status ?? null,
      search: query.search ? containsPattern(query.search) : null,
      expiring: query.expiringBefore?.getTime() ?? null,
      silent: query.silentSince?.getTime() ?? null,
    };
    const total = (this.db.prepare(`SELECT count(*) AS n ${from} ${where}`).get(params) as { n: number }).n;
    const direction = query.descending ? 'DESC' : 'ASC';
    // Devices without a certificate sort after those with one, whichever the direction.
    const nullsLast = query.sort === 'expires' ? 'c.not_after IS NULL, ' : '';
    const order = `${nullsLast}${DEVICE_ORDER[query.sort ?? 'id']} ${direction}, d.id ${direction}`;
    const columns = CERTIFICATE_COLUMNS.map((c) => `c.${c} AS c_${c}`).join(', ');
    const rows = this.db
      .prepare(`SELECT d.*, ${columns} ${from} ${where} ORDER BY ${order} LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit: query.limit ?? -1, offset: query.offset ?? 0 }) as DeviceSummaryRow[];
    return {
      total,
      devices: rows.map((r) => ({ device: deviceFromRow(r), current: r.c_serial === null ? undefined : certificateFromRow(unprefix(r)) })),
    };
  }

  fleetSummary(now: Date, horizonDays: number): FleetSummary {
    const byStatus = Object.fromEntries(DEVICE_STATUSES.map((s) => [s, 0])) as Record<DeviceStatus, number>;
    for (const r of this.db.prepare('SELECT status, count(*) AS n FROM devices GROUP BY status').all() as { status: string; n: number }[]) {
      byStatus[oneOf('devices', '*', 'status', r.status, DEVICE_STATUSES)] = r.n;
    }
    const online = (
      this.db.prepare("SELECT count(*) AS n FROM devices WHERE reported_state IN ('online', 'renewing')").get() as { n: number }
    ).n;
    const t = now.getTime();
    const expiringPerDay: number[] = Array.from({ length: horizonDays }, () => 0);
    const perDay = this.db
      .prepare(
        `SELECT CAST((not_after - @now) / ${DAY_MS} AS INTEGER) AS day, count(*) AS n FROM certificates
         WHERE status = 'active' AND not_after >= @now AND not_after < @end GROUP BY day`,
      )
      .all({ now: t, end: t + horizonDays * DAY_MS }) as { day: number; n: number }[];
    for (const r of perDay) expiringPerDay[r.day] = r.n;
    const count = (sql: string, ...args: unknown[]) => (this.db.prepare(sql).get(...args) as { n: number }).n;
    return {
      byStatus,
      online,
      expiringPerDay,
      expired: count("SELECT count(*) AS n FROM certificates WHERE status = 'active' AND not_after < ?", t),
      certificates: count('SELECT count(*) AS n FROM certificates'),
      auditEntries: count('SELECT count(*) AS n FROM audit'),
    };
  }

  // ---- console administrators ----

  saveAdmin(change: AdminChange): AdminRecord {
    return this.write(() => {
      const now = change.now.getTime();
      this.db
        .prepare(
          `INSERT INTO admins (name, role, password_hash, created_at, updated_at) VALUES (@name, @role, @hash, @now, @now)
           ON CONFLICT (name) DO UPDATE SET role = @role, password_hash = COALESCE(@hash, password_hash), updated_at = @now`,
        )
        .run({ name: change.name, role: change.role, hash: change.passwordHash ?? null, now });
      if (change.certificate) {
        this.db
          .prepare('INSERT INTO admin_certificates (serial, admin_name, not_after, issued_at) VALUES (?, ?, ?, ?)')
          .run(change.certificate.serial, change.name, change.certificate.notAfter.getTime(), now);
      }
      const detail = { admin: change.name, role: change.role, password: change.passwordHash !== undefined };
      this.insertAudit({
        at: change.now,
        action: 'admin_saved',
        serial: change.certificate?.serial ?? null,
        source: change.source,
        detail,
      });
      return this.getAdmin(change.name)!;
    });
  }

  getAdmin(name: string): AdminRecord | undefined {
    const row = this.db.prepare('SELECT * FROM admins WHERE name = ?').get(name) as AdminRow | undefined;
    return row && adminFromRow(row);
  }

  removeAdmin(name: string, now: Date, source: string | null): boolean {
    return this.write(() => {
      const certificates = this.db.prepare('DELETE FROM admin_certificates WHERE admin_name = ?').run(name).changes;
      if (this.db.prepare('DELETE FROM admins WHERE name = ?').run(name).changes === 0) return false;
      this.insertAudit({ at: now, action: 'admin_removed', source, detail: { admin: name, certificates } });
      return true;
    });
  }

  adminByCertificate(serial: string, now: Date): AdminRecord | undefined {
    const row = this.db
      .prepare('SELECT a.* FROM admin_certificates c JOIN admins a ON a.name = c.admin_name WHERE c.serial = ? AND c.not_after > ?')
      .get(serial, now.getTime()) as AdminRow | undefined;
    return row && adminFromRow(row);
  }

  // ---- backend consumers (services) ----

  saveService(change: ServiceChange): ServiceRecord | undefined {
    return this.write(() => {
      const now = change.now.getTime();
      if (change.grants) {
        const grants = { name: change.name, read: JSON.stringify(change.grants.read), write: JSON.stringify(change.grants.write), now };
        this.db
          .prepare(
            `INSERT INTO services (name, read_filters, write_filters, status, created_at, updated_at)
             VALUES (@name, @read, @write, 'active', @now, @now)
             ON CONFLICT (name) DO UPDATE SET read_filters = @read, write_filters = @write, status = 'active', updated_at = @now`,
          )
          .run(grants);
      } else if (
        this.db.prepare("UPDATE services SET updated_at = ? WHERE name = ? AND status = 'active'").run(now, change.name).changes === 0
      ) {
        return undefined;
      }
      this.db
        .prepare('INSERT INTO service_certificates (serial, service_name, not_after, issued_at) VALUES (?, ?, ?, ?)')
        .run(change.certificate.serial, change.name, change.certificate.notAfter.getTime(), now);
      const detail = { service: change.name, ...(change.grants ?? { renewal: true }) };
      this.insertAudit({ at: change.now, action: 'service_saved', serial: change.certificate.serial, source: change.source, detail });
      return this.getService(change.name)!;
    });
  }

  getService(name: string): ServiceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM services WHERE name = ?').get(name) as ServiceRow | undefined;
    return row && this.serviceFromRow(row);
  }

  listServices(): ServiceRecord[] {
    const rows = this.db.prepare('SELECT * FROM services ORDER BY name').all() as ServiceRow[];
    return rows.map((row) => this.serviceFromRow(row));
  }

  revokeService(name: string, reason: string, now: Date, source: string | null): string[] | undefined {
    return this.write(() => {
      const t = now.getTime();
      if (this.db.prepare("UPDATE services SET status = 'revoked', updated_at = ? WHERE name = ?").run(t, name).changes === 0)
        return undefined;
      const serials = (
        this.db
          .prepare(
            `UPDATE service_certificates SET revoked_at = @t, revocation_reason = @reason
             WHERE service_name = @name AND revoked_at IS NULL AND not_after > @t RETURNING serial`,
          )
          .all({ t, reason, name }) as { serial: string }[]
      )
        .map((r) => r.serial)
        .sort();
      this.insertAudit({ at: now, action: 'service_revoked', source, detail: { service: name, reason, serials } });
      return serials;
    });
  }

  private serviceFromRow(row: ServiceRow): ServiceRecord {
    const certificates = this.db
      .prepare(`SELECT ${SERVICE_CERTIFICATE_COLUMNS} FROM service_certificates WHERE service_name = ? ORDER BY issued_at, serial`)
      .all(row.name) as ServiceCertificateRow[];
    return serviceFromRows(row, certificates);
  }

  contestedAttempts(deviceId: string): ContestedAttempt[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM audit
         WHERE device_id = @id AND action = 'refused' AND code = 'id_pending'
           AND seq > COALESCE((SELECT max(seq) FROM audit WHERE device_id = @id AND action IN ('pending', 'reset')), 0)
         ORDER BY seq`,
      )
      .all({ id: deviceId }) as AuditRow[];
    return rows.map(auditFromRow).map((a) => ({
      at: a.at,
      keySha256: typeof a.detail?.keySha256 === 'string' ? a.detail.keySha256 : null,
      source: a.source,
      tokenId: a.tokenId,
    }));
  }

  listRefusals(filter: { since: Date; deviceId?: string; limit?: number }): RefusalGroup[] {
    const rows = this.db
      .prepare(
        `SELECT device_id, source, code, count(*) AS count, min(at) AS first_at, max(at) AS last_at FROM audit
         WHERE action = 'refused' AND at >= @since AND (@deviceId IS NULL OR device_id = @deviceId)
         GROUP BY device_id, source, code ORDER BY last_at DESC, device_id LIMIT @limit`,
      )
      .all({ since: filter.since.getTime(), deviceId: filter.deviceId ?? null, limit: filter.limit ?? 1000 }) as {
      device_id: string | null;
      source: string | null;
      code: string | null;
      count: number;
      first_at: number;
      last_at: number;
    }[];
    return rows.map((r) => ({
      deviceId: r.device_id,
      source: r.source,
      code: r.code,
      count: r.count,
      firstAt: date(r.first_at),
      lastAt: date(r.last_at),
    }));
  }

  listTakeoverFlags(filter: { since: Date; deviceId?: string }): TakeoverFlag[] {
    const rows = this.db
      .prepare(
        `SELECT device_id, count(*) AS flags, min(at) AS first_at, max(at) AS last_at FROM audit
         WHERE action = 'session_takeover' AND at >= @since AND device_id IS NOT NULL AND (@deviceId IS NULL OR device_id = @deviceId)
         GROUP BY device_id ORDER BY last_at DESC, device_id`,
      )
      .all({ since: filter.since.getTime(), deviceId: filter.deviceId ?? null }) as {
      device_id: string;
      flags: number;
      first_at: number;
      last_at: number;
    }[];
    return rows.map((r) => ({ deviceId: r.device_id, flags: r.flags, firstAt: date(r.first_at), lastAt: date(r.last_at) }));
  }

  // ---- internals ----

  /** Counts one use, conditional on the token still being usable now (it may have been revoked since it was read). */
  private countTokenUse(tokenId: string, now: number): void {
    const changed = this.db
      .prepare(
        `UPDATE tokens SET uses = uses + 1
         WHERE id = ? AND (max_uses IS NULL OR uses < max_uses) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
      )
      .run(tokenId, now).changes;
    if (changed > 0) return;
    const token = this.getToken(tokenId);
    if (token?.revokedAt) throw new FleetcertError('token_revoked', `token ${tokenId} was revoked`);
    if (token?.expiresAt && token.expiresAt.getTime() <= now) throw new FleetcertError('token_expired', `token ${tokenId} has expired`);
    throw new FleetcertError('token_exhausted', `token ${tokenId} has no enrollments left`);
  }

  /**
   * A write transaction that takes SQLite's write lock at BEGIN (IMMEDIATE): its reads and
   * writes see one state, and it waits (busy_timeout) instead of failing when another process
   * writes. better-sqlite3 is synchronous, so no other statement of this process lands inside it.
   */
  private write<T>(work: () => T): T {
    try {
      return this.db.transaction(work).immediate();
    } catch (err) {
      // A uniqueness constraint refused it: another writer came first (as on PostgreSQL).
      const code = (err as { code?: unknown }).code;
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new FleetcertError('registry_conflict', `a concurrent write came first (${(err as Error).message})`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Creates or updates the device row, but only from the state the decision was made from:
   * INSERT when it had no row, else UPDATE ... WHERE status and pending key still match.
   * A row that waits (pending, or approved and not collected) is bound to its key: the write
   * applies only from `bound.status` with `bound.key`, so no caller, however it decided, can
   * replace a waiting key or issue to another one (id_pending). Only a reset unbinds it.
   */
  private claimDevice(
    id: string,
    expected: DeviceExpectation,
    status: DeviceStatus,
    tokenId: string | null,
    labels: Labels,
    metadata: Record<string, unknown> | undefined,
    pendingKey: string | null,
    bound: { readonly status: 'pending' | 'approved'; readonly key: string },
    now: number,
  ): void {
    const values = {
      id,
      status,
      token_id: tokenId,
      labels: JSON.stringify(labels),
      metadata: JSON.stringify(metadata ?? {}),
      has_metadata: metadata ? 1 : 0,
      pending: pendingKey,
      bound_status: bound.status,
      bound_key: bound.key,
      now,
    };
    if (expected.status === 'absent') {
      const inserted = this.db
        .prepare(
          `INSERT INTO devices (id, status, token_id, labels, metadata, pending_key_sha256, first_seen, last_seen, updated_at)
           VALUES (@id, @status, @token_id, @labels, @metadata, @pending, @now, @now, @now)
           ON CONFLICT (id) DO NOTHING`,
        )
        .run(values).changes;
      if (inserted === 0) throw conflict(id, 'it was enrolled meanwhile');
      return;
    }
    const updated = this.db
      .prepare(
        `UPDATE devices SET
           status = @status,
           token_id = COALESCE(@token_id, token_id),
           labels = @labels,
           metadata = CASE WHEN @has_metadata THEN @metadata ELSE metadata END,
           pending_key_sha256 = @pending,
           last_seen = @now,
           updated_at = @now
         WHERE id = @id AND status = @expected_status AND pending_key_sha256 IS @expected_pending
           AND (status NOT IN ('pending', 'approved') OR (status = @bound_status AND pending_key_sha256 = @bound_key))`,
      )
      .run({ ...values, expected_status: expected.status, expected_pending: expected.pendingKeySha256 }).changes;
    if (updated > 0) return;
    const found = this.getDevice(id);
    if (found?.status === expected.status && found.pendingKeySha256 === expected.pendingKeySha256) {
      // The row is as the decision saw it, so the key bound to a waiting id refused the write.
      throw new FleetcertError('id_pending', `device "${id}" is ${found.status} for key ${found.pendingKeySha256}, not ${bound.key}`);
    }
    throw conflict(id, `it is no longer ${expected.status}`);
  }

  private insertAudit(entry: NewAuditEntry): void {
    this.db
      .prepare('INSERT INTO audit (at, action, device_id, token_id, serial, code, source, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(
        entry.at.getTime(),
        entry.action,
        entry.deviceId ?? null,
        entry.tokenId ?? null,
        entry.serial ?? null,
        entry.code ?? null,
        entry.source ?? null,
        entry.detail ? JSON.stringify(entry.detail) : null,
      );
  }
}

/**
 * The asynchronous face of a SqliteStore. `gate` decides when a call may run: on the root
 * registry it waits while a transaction of this process is open (so no statement of another
 * task lands inside it); inside `transaction(fn)` calls run at once, on the open transaction.
 * Single writes on the root registry go through group commit (sqlite-group-commit.ts): many
 * share one COMMIT, each settles after it.
 */
class SqliteRegistry implements Registry {
  private txQueue: Promise<unknown> = Promise.resolve();
  private openTx: Promise<unknown> | undefined;
  private readonly commits: SqliteGroupCommit | undefined;

  constructor(
    private readonly store: SqliteStore,
    private readonly inside?: { readonly isOpen: () => boolean },
  ) {
    this.commits = inside ? undefined : new SqliteGroupCommit(store.db, (run) => this.gate(run));
  }

  /** A state change: grouped with this turn's others into one transaction, or run at once inside `transaction(fn)`. */
  private write<T>(work: () => T): Promise<T> {
    return this.commits ? this.commits.run(work) : this.gate(work);
  }

  private async gate<T>(work: () => T): Promise<T> {
    if (this.inside) {
      if (!this.inside.isOpen()) throw new FleetcertError('internal', 'registry transaction used after it ended');
      return work();
    }
    while (this.openTx) await this.openTx.catch(() => undefined);
    return work();
  }

  // `options.lock` needs nothing more here: BEGIN IMMEDIATE takes the database's write lock, which every other writer waits for.
  async transaction<T>(work: (tx: Registry) => Promise<T>, _options?: { readonly lock?: TransactionLock }): Promise<T> {
    if (this.inside) return work(this);
    const run = async (): Promise<T> => {
      let open = true;
      const tx = new SqliteRegistry(this.store, { isOpen: () => open });
      const { db } = this.store;
      // IMMEDIATE: take the write lock now, so what the work reads is what it writes against.
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(tx);
        db.exec('COMMIT');
        return result;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      } finally {
        open = false;
      }
    };
    // One transaction at a time in this process; other calls wait for it (see gate).
    const mine = this.txQueue
      .catch(() => undefined)
      .then(() => {
        const running = run();
        this.openTx = running;
        const settled = (): void => {
          if (this.openTx === running) this.openTx = undefined;
        };
        running.then(settled, settled);
        return running;
      });
    this.txQueue = mine;
    return mine;
  }

  createToken(token: TokenRecord, source: string | null) {
    return this.write(() => this.store.createToken(token, source));
  }
  getToken(id: string) {
    return this.gate(() => this.store.getToken(id));
  }
  listTokens() {
    return this.gate(() => this.store.listTokens());
  }
  revokeToken(id: string, now: Date, source: string | null) {
    return this.write(() => this.store.revokeToken(id, now, source));
  }
  getDevice(id: string) {
    return this.gate(() => this.store.getDevice(id));
  }
  listDevices(status?: DeviceStatus) {
    return this.gate(() => this.store.listDevices(status));
  }
  currentCertificate(deviceId: string) {
    return this.gate(() => this.store.currentCertificate(deviceId));
  }
  activeCertificate(deviceId: string) {
    return this.gate(() => this.store.activeCertificate(deviceId));
  }
  getCertificate(serial: string) {
    return this.gate(() => this.store.getCertificate(serial));
  }
  listCertificates(deviceId: string) {
    return this.gate(() => this.store.listCertificates(deviceId));
  }
  recordIssued(record: IssueRecord) {
    return this.write(() => this.store.recordIssued(record));
  }
  recordPending(record: PendingRecord) {
    return this.write(() => this.store.recordPending(record));
  }
  approveDevice(id: string, keySha256: string, now: Date, source: string | null) {
    return this.write(() => this.store.approveDevice(id, keySha256, now, source));
  }
  resetDevice(id: string, now: Date, source: string | null) {
    return this.write(() => this.store.resetDevice(id, now, source));
  }
  touchDevice(id: string, now: Date, metadata?: Record<string, unknown>) {
    return this.write(() => this.store.touchDevice(id, now, metadata));
  }
  revokeDevice(id: string, reason: string, now: Date, source: string | null) {
    return this.write(() => this.store.revokeDevice(id, reason, now, source));
  }
  requestRenewal(target: readonly string[] | 'all', reason: string, now: Date, source: string | null, options?: RenewalOptions) {
    return this.write(() => this.store.requestRenewal(target, reason, now, source, options));
  }
  async revokeSuperseded(deviceId: string, provenSerial: string, now: Date, source: string | null) {
    // A read first, outside any write: nearly every status message and proof finds nothing to do.
    if (!(await this.gate(() => this.store.hasUnexpiredSuperseded(deviceId, now)))) return [];
    return this.write(() => this.store.revokeSuperseded(deviceId, provenSerial, now, source));
  }
  revokedCertificates(now: Date) {
    return this.gate(() => this.store.revokedCertificates(now));
  }
  recordReportedStatus(id: string, state: string, serial: string | null, now: Date) {
    return this.write(() => this.store.recordReportedStatus(id, state, serial, now));
  }
  latestCrl() {
    return this.gate(() => this.store.latestCrl());
  }
  storeCrl(crl: StoredCrl, previousNumber: number | null) {
    return this.write(() => this.store.storeCrl(crl, previousNumber));
  }
  audit(entry: NewAuditEntry) {
    return this.write(() => this.store.audit(entry));
  }
  listAudit(filter?: AuditFilter) {
    return this.gate(() => this.store.listAudit(filter));
  }
  countAudit(actions: readonly string[], since: Date) {
    return this.gate(() => this.store.countAudit(actions, since));
  }
  queryDevices(query: DeviceQuery) {
    return this.gate(() => this.store.queryDevices(query));
  }
  fleetSummary(now: Date, horizonDays: number) {
    return this.gate(() => this.store.fleetSummary(now, horizonDays));
  }
  saveAdmin(change: AdminChange) {
    return this.write(() => this.store.saveAdmin(change));
  }
  getAdmin(name: string) {
    return this.gate(() => this.store.getAdmin(name));
  }
  adminByCertificate(serial: string, now: Date) {
    return this.gate(() => this.store.adminByCertificate(serial, now));
  }
  removeAdmin(name: string, now: Date, source: string | null) {
    return this.write(() => this.store.removeAdmin(name, now, source));
  }
  saveService(change: ServiceChange) {
    return this.write(() => this.store.saveService(change));
  }
  getService(name: string) {
    return this.gate(() => this.store.getService(name));
  }
  listServices() {
    return this.gate(() => this.store.listServices());
  }
  revokeService(name: string, reason: string, now: Date, source: string | null) {
    return this.write(() => this.store.revokeService(name, reason, now, source));
  }
  contestedAttempts(deviceId: string) {
    return this.gate(() => this.store.contestedAttempts(deviceId));
  }
  listRefusals(filter: { since: Date; deviceId?: string; limit?: number }) {
    return this.gate(() => this.store.listRefusals(filter));
  }
  listTakeoverFlags(filter: { since: Date; deviceId?: string }) {
    return this.gate(() => this.store.listTakeoverFlags(filter));
  }
  async close(): Promise<void> {
    if (this.inside) throw new FleetcertError('internal', 'close() inside a registry transaction');
    await this.commits?.drain();
    await this.txQueue.catch(() => undefined);
    this.store.close();
  }
}

/**
 * Compiles each statement once per connection: every SQL text in this module is a constant, so
 * the cache holds a few dozen statements, and a request no longer pays SQLite's parser for each
 * of its queries (measured ~5% of serve's time under load). Statements are only run with
 * get/all/run, never iterated, so sharing one between calls is safe.
 */
function reusePreparedStatements(db: Database.Database): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  }) as typeof db.prepare;
}

/** A LIKE pattern (escape character \\) matching any text that contains `search` literally: its % and _ are not wildcards. */
export function containsPattern(search: string): string {
  return `%${search.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
}

export function conflict(deviceId: string, why: string): FleetcertError {
  return new FleetcertError('registry_conflict', `device "${deviceId}" changed since this request read it: ${why}`);
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new FleetcertError('config_invalid', `the registry schema (v${version}) is newer than this fleetcert (v${MIGRATIONS.length})`, {
      hint: 'upgrade fleetcert before using this data directory',
    });
  }
  for (let v = version; v < MIGRATIONS.length; v += 1) {
    db.transaction(() => {
      // Another process (serve and a CLI command opening the same file) may have applied it meanwhile.
      if ((db.pragma('user_version', { simple: true }) as number) > v) return;
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

// ---- rows to records: what a corrupt row becomes ----
// A row that breaks the schema's promises (bad JSON, an unknown status) is the registry's
// fault, never the client's: registry_corrupt (500), naming the table, row and column.

function corrupt(table: string, id: string, column: string, problem: string): FleetcertError {
  return new FleetcertError('registry_corrupt', `registry row ${table}/${id}: ${column} ${problem}`, {
    hint: 'restore the registry from a backup or fix the row; fleetcert never writes such a value',
  });
}

export function oneOf<T extends string>(table: string, id: string, column: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw corrupt(table, id, column, `is ${JSON.stringify(value.slice(0, 40))}, not one of ${allowed.join(', ')}`);
}

function stringArray(table: string, id: string, column: string, text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt(table, id, column, 'is not JSON');
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw corrupt(table, id, column, 'is not a JSON array of strings');
  return value;
}

function jsonObject(table: string, id: string, column: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt(table, id, column, 'is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(table, id, column, 'is not a JSON object');
  return value as Record<string, unknown>;
}

function stringMap(value: Record<string, unknown>, table: string, id: string): Labels {
  if (Object.values(value).some((v) => typeof v !== 'string')) throw corrupt(table, id, 'labels', 'has a non-string value');
  return value as Labels;
}

export function tokenFromRow(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    createdAt: date(row.created_at),
    expiresAt: maybeDate(row.expires_at),
    maxUses: row.max_uses,
    uses: row.uses,
    idPattern: row.id_pattern,
    labels: stringMap(jsonObject('tokens', row.id, 'labels', row.labels), 'tokens', row.id),
    approval: oneOf('tokens', row.id, 'approval', row.approval, APPROVAL_MODES),
    reenroll: oneOf('tokens', row.id, 'reenroll', row.reenroll, REENROLL_MODES),
    revokedAt: maybeDate(row.revoked_at),
  };
}

export function deviceFromRow(row: DeviceRow): DeviceRecord {
  return {
    id: row.id,
    status: oneOf('devices', row.id, 'status', row.status, DEVICE_STATUSES),
    tokenId: row.token_id,
    labels: stringMap(jsonObject('devices', row.id, 'labels', row.labels), 'devices', row.id),
    metadata: jsonObject('devices', row.id, 'metadata', row.metadata),
    pendingKeySha256: row.pending_key_sha256,
    firstSeen: date(row.first_seen),
    lastSeen: date(row.last_seen),
    updatedAt: date(row.updated_at),
    reportedState: row.reported_state,
    reportedSerial: row.reported_serial,
    reportedAt: maybeDate(row.reported_at),
  };
}

export function certificateFromRow(row: CertificateRow): CertificateRecord {
  return {
    serial: row.serial,
    deviceId: row.device_id,
    keySha256: row.key_sha256,
    notBefore: date(row.not_before),
    notAfter: date(row.not_after),
    status: oneOf('certificates', row.serial, 'status', row.status, CERTIFICATE_STATUSES),
    issuedAt: date(row.issued_at),
    revokedAt: maybeDate(row.revoked_at),
    revocationReason: row.revocation_reason,
    pem: row.pem,
    renewFrom: maybeDate(row.renew_from),
    keyCompromised: row.key_compromised !== 0,
  };
}

export const CERTIFICATE_COLUMNS = [
  'serial',
  'device_id',
  'key_sha256',
  'not_before',
  'not_after',
  'status',
  'issued_at',
  'revoked_at',
  'revocation_reason',
  'pem',
  'renew_from',
  'key_compromised',
] as const satisfies readonly (keyof CertificateRow)[];

export function unprefix(row: DeviceSummaryRow): CertificateRow {
  return Object.fromEntries(CERTIFICATE_COLUMNS.map((c) => [c, row[`c_${c}`]])) as unknown as CertificateRow;
}

export function adminFromRow(row: AdminRow): AdminRecord {
  return {
    name: row.name,
    role: oneOf('admins', row.name, 'role', row.role, ADMIN_ROLES),
    passwordHash: row.password_hash,
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}

export function auditFromRow(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    at: date(row.at),
    action: row.action,
    deviceId: row.device_id,
    tokenId: row.token_id,
    serial: row.serial,
    code: row.code,
    source: row.source,
    detail: row.detail === null ? null : jsonObject('audit', String(row.seq), 'detail', row.detail),
  };
}

export const SERVICE_CERTIFICATE_COLUMNS = 'serial, not_after, issued_at, revoked_at';

/** A service from its row and its certificate rows (oldest first). */
export function serviceFromRows(row: ServiceRow, certificates: readonly ServiceCertificateRow[]): ServiceRecord {
  return {
    name: row.name,
    read: stringArray('services', row.name, 'read_filters', row.read_filters),
    write: stringArray('services', row.name, 'write_filters', row.write_filters),
    status: oneOf('services', row.name, 'status', row.status, SERVICE_STATUSES),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
    certificates: certificates.map((c) => ({
      serial: c.serial,
      notAfter: date(c.not_after),
      issuedAt: date(c.issued_at),
      revokedAt: maybeDate(c.revoked_at),
    })),
  };
}

export function crlFromRow(row: CrlRow): StoredCrl {
  return { crlNumber: row.crl_number, thisUpdate: date(row.this_update), nextUpdate: date(row.next_update), der: row.der };
}
