/**
 * The registry seam: tokens, devices, certificates and the append-only audit log, behind one
 * asynchronous interface. SQLite (sqlite-registry.ts) is the embedded default; a PostgreSQL
 * backend implements the same interface and runs the same test suite.
 *
 * The contract every backend keeps, and the only thing callers may rely on:
 * - every method that changes state is ONE atomic operation: all of its rows and its audit row,
 *   or nothing;
 * - writes that apply a decision carry the state it was decided from (`DeviceExpectation`) and
 *   fail with `registry_conflict` when it no longer holds (compare-and-swap), so they are
 *   correct across processes and servers, not only under a lock in one process;
 * - uniqueness is a constraint: one row per device id, per serial, one active certificate per
 *   device; a token's uses never pass its maximum;
 * - a corrupt row is reported as `registry_corrupt` (a server fault), never as the client's.
 */
import type {
  AdminChange,
  AdminRecord,
  AuditCount,
  AuditEntry,
  AuditFilter,
  CertificateRecord,
  ContestedAttempt,
  DeviceRecord,
  DevicePage,
  DeviceQuery,
  DeviceStatus,
  FleetSummary,
  IssueOutcome,
  IssueRecord,
  NewAuditEntry,
  PendingRecord,
  RefusalGroup,
  RevokedEntry,
  TakeoverFlag,
  StoredCrl,
  ServiceChange,
  ServiceRecord,
  TokenRecord,
} from './records.js';

export interface Registry {
  // ---- tokens ----
  createToken(token: TokenRecord, source: string | null): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** Marks a token revoked (devices enrolled with it are not affected). False if unknown. */
  revokeToken(id: string, now: Date, source: string | null): Promise<boolean>;

  // ---- devices and certificates ----
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  listDevices(status?: DeviceStatus): Promise<DeviceRecord[]>;
  /** The device's newest certificate that is not superseded (it may be revoked or expired). */
  currentCertificate(deviceId: string): Promise<CertificateRecord | undefined>;
  /** The device's active certificate, if any (at most one exists). */
  activeCertificate(deviceId: string): Promise<CertificateRecord | undefined>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  listCertificates(deviceId: string): Promise<CertificateRecord[]>;
  /**
   * Records an issued certificate: the device becomes active, its active certificate is
   * superseded, the token use is counted (token_exhausted/_revoked/_expired: nothing written),
   * the decision is audited. registry_conflict when `record.expected` no longer holds.
   * A predecessor marked key-compromised is revoked (keyCompromise) in the same operation.
   * A pending or approved id is bound to its waiting key here too, not only in the policy
   * (`id_pending` for any other key): a deliberate second line, so that no policy mistake can
   * hand an approved id's certificate to another key.
   */
  recordIssued(record: IssueRecord): Promise<IssueOutcome>;
  /** Records a device waiting for approval of this key; registry_conflict as above. */
  recordPending(record: PendingRecord): Promise<void>;
  /**
   * Approves a device pending with exactly this key (compare-and-swap on the key the operator
   * saw). The new record, or undefined if it is not pending with that key (any more).
   */
  approveDevice(id: string, keySha256: string, now: Date, source: string | null): Promise<DeviceRecord | undefined>;
  /** Frees the id for the next enrollment; certificates are left as they are. Undefined if unknown. */
  resetDevice(id: string, now: Date, source: string | null): Promise<DeviceRecord | undefined>;
  /** Updates last_seen (and metadata, when given): bookkeeping, not a decision. */
  touchDevice(id: string, now: Date, metadata?: Record<string, unknown>): Promise<void>;
  /** Revokes the device and its unexpired certificates. The serials revoked now; undefined if unknown. */
  revokeDevice(id: string, reason: string, now: Date, source: string | null): Promise<string[] | undefined>;
  /** renew-now for the named (or all active) devices. The ids it applied to. */
  requestRenewal(
    target: readonly string[] | 'all',
    reason: string,
    now: Date,
    source: string | null,
    options?: RenewalOptions,
  ): Promise<string[]>;
  /**
   * The device proved `provenSerial` (connected or made a request with it): its superseded,
   * unexpired certificates are revoked with reason `superseded`, audited, only while
   * `provenSerial` is still its active certificate. The serials revoked now.
   */
  revokeSuperseded(deviceId: string, provenSerial: string, now: Date, source: string | null): Promise<string[]>;
  /** Revoked, unexpired certificates, devices' and services': the entries of the next CRL. */
  revokedCertificates(now: Date): Promise<RevokedEntry[]>;
  /** A status message from a known device; false for an unknown id. */
  recordReportedStatus(id: string, state: string, serial: string | null, now: Date): Promise<boolean>;

  // ---- the CRL ----
  /** The latest CRL any process published, if any. */
  latestCrl(): Promise<StoredCrl | undefined>;
  /**
   * Stores `crl` as the latest, only if the latest is still the one numbered `previousNumber`
   * (null: none yet) and `crl` numbers higher (compare-and-swap: CRL numbers never go backwards,
   * and of two publications built from one state only one lands). One publisher at a time: the
   * caller's transaction holds the publication lock until it ends. False when it did not store.
   */
  storeCrl(crl: StoredCrl, previousNumber: number | null): Promise<boolean>;

  // ---- audit ----
  audit(entry: NewAuditEntry): Promise<void>;
  /** Oldest first, the newest `limit` (100) rows that match. */
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
  /** Competing keys refused (`id_pending`) since the device's id was last bound (its latest pending or reset row). */
  contestedAttempts(deviceId: string): Promise<ContestedAttempt[]>;
  /** Refused attempts at or after `since` (of one device id, if given), grouped; the most recent group first. */
  listRefusals(filter: { since: Date; deviceId?: string; limit?: number }): Promise<RefusalGroup[]>;
  /** Devices flagged `session_takeover` at or after `since` (one device, if given), the most recent first. */
  listTakeoverFlags(filter: { since: Date; deviceId?: string }): Promise<TakeoverFlag[]>;

  // ---- fleet views (console, `device list`, metrics) ----
  /** One page of devices with their current certificate, filtered and sorted in the database. */
  queryDevices(query: DeviceQuery): Promise<DevicePage>;
  /** Counts by status, online, and active certificates expiring per day over `horizonDays`. */
  fleetSummary(now: Date, horizonDays: number): Promise<FleetSummary>;
  /** Audit rows with these actions since `since`, counted per hour and code. */
  countAudit(actions: readonly string[], since: Date): Promise<AuditCount[]>;

  // ---- console administrators ----
  /** Creates or updates an admin (role; password and a new certificate when given), audited, in one operation. */
  saveAdmin(change: AdminChange): Promise<AdminRecord>;
  getAdmin(name: string): Promise<AdminRecord | undefined>;
  /** Removes an admin, their password and every certificate issued to them (which then opens nothing), audited. False if unknown. */
  removeAdmin(name: string, now: Date, source: string | null): Promise<boolean>;
  /** The admin a client certificate was issued to, while it is unexpired; undefined for any other serial (every device's). */
  adminByCertificate(serial: string, now: Date): Promise<AdminRecord | undefined>;

  // ---- backend consumers (services) ----
  /**
   * Records a service's new certificate, audited, in one operation: with grants, creating or updating the service
   * (active again); without, a renewal that applies only while the service is active (compare-and-swap: a renewal
   * racing a revoke never reinstates it). Undefined when a renewal found no active service, and nothing is written.
   */
  saveService(change: ServiceChange): Promise<ServiceRecord | undefined>;
  getService(name: string): Promise<ServiceRecord | undefined>;
  /** Every service, by name. */
  listServices(): Promise<ServiceRecord[]>;
  /**
   * Marks the service revoked (no ACL lines any more) and revokes its unexpired certificates with `reason`, audited.
   * The serials revoked now; undefined if unknown.
   */
  revokeService(name: string, reason: string, now: Date, source: string | null): Promise<string[] | undefined>;

  /**
   * Runs `work` as one transaction: its writes commit together or not at all. Keep it short and
   * free of I/O other than the registry: on SQLite it holds the database's write lock (other
   * processes wait, so its reads see one state) and queues this process's other registry calls.
   * On PostgreSQL it is READ COMMITTED on one pooled connection: each statement sees what was
   * committed when it started, so what `work` decides must still be written conditionally
   * (the compare-and-swap methods above), never inferred from an earlier read in it.
   *
   * `options.lock` names the files `work` rewrites from what it reads: the transaction holds that
   * lock from its start to its end, across processes and servers, so writers of those files go
   * one at a time and the last one has read every change committed before it. On SQLite the write
   * lock taken at BEGIN already excludes every other writer; on PostgreSQL it is an advisory lock.
   */
  transaction<T>(work: (tx: Registry) => Promise<T>, options?: { readonly lock?: TransactionLock }): Promise<T>;

  close(): Promise<void>;
}

/** Files written under a registry transaction (see `transaction`): the broker's ACL, the server TLS certificates. */
export type TransactionLock = 'broker-acl' | 'server-tls';

export interface RenewalOptions {
  /**
   * The key of the current certificate may have leaked: it may still authorise its own renewal
   * (that is the point), and is revoked (keyCompromise) the moment its successor is issued.
   */
  readonly keyCompromise?: boolean;
}
