/**
 * What the registry stores, as plain records: the vocabulary shared by the registry interface,
 * its backends, the policy and the commands. No storage concerns here.
 */
export const APPROVAL_MODES = ['auto', 'manual'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];
export const REENROLL_MODES = ['deny', 'allow'] as const;
export type ReenrollMode = (typeof REENROLL_MODES)[number];
export type Labels = Record<string, string>;

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly secretHash: Buffer;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly maxUses: number | null;
  readonly uses: number;
  readonly idPattern: string | null;
  readonly labels: Labels;
  readonly approval: ApprovalMode;
  readonly reenroll: ReenrollMode;
  readonly revokedAt: Date | null;
}

export const DEVICE_STATUSES = ['pending', 'approved', 'active', 'revoked', 'reset'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

export interface DeviceRecord {
  readonly id: string;
  readonly status: DeviceStatus;
  readonly tokenId: string | null;
  readonly labels: Labels;
  readonly metadata: Record<string, unknown>;
  /** Key fingerprint of the CSR waiting for (or granted) approval. */
  readonly pendingKeySha256: string | null;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
  readonly updatedAt: Date;
  /** What the device last said on its status topic, and its serial then. */
  readonly reportedState: string | null;
  readonly reportedSerial: string | null;
  readonly reportedAt: Date | null;
}

export interface RevokedEntry {
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: string | null;
}

export const CERTIFICATE_STATUSES = ['active', 'superseded', 'revoked'] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];

export interface CertificateRecord {
  readonly serial: string;
  readonly deviceId: string;
  readonly keySha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly status: CertificateStatus;
  readonly issuedAt: Date;
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
  readonly pem: string;
  /** Set by an operator's renew-now: renew from this moment on, whatever the default window says. */
  readonly renewFrom: Date | null;
  /** Set by renew-now --key-compromise: revoked (keyCompromise) the moment its successor is issued. */
  readonly keyCompromised: boolean;
}

export type AuditAction =
  | 'token_created'
  | 'token_revoked'
  | 'issued'
  | 'reissued'
  | 'renewed'
  | 'pending'
  | 'refused'
  | 'approved'
  | 'reset'
  | 'revoked'
  | 'predecessors_revoked'
  | 'renew_requested'
  | 'admin_saved'
  | 'admin_removed'
  | 'console_login'
  | 'console_refused'
  | 'session_takeover'
  | 'service_saved'
  | 'service_revoked';

export interface AuditEntry {
  readonly seq: number;
  readonly at: Date;
  readonly action: AuditAction;
  readonly deviceId: string | null;
  readonly tokenId: string | null;
  readonly serial: string | null;
  readonly code: string | null;
  readonly source: string | null;
  readonly detail: Record<string, unknown> | null;
}

/**
 * Another key that claimed an id while it waited for approval (a refused `id_pending`), since
 * the id was last bound: what makes `device list --pending` flag the id as contested.
 */
export interface ContestedAttempt {
  readonly at: Date;
  readonly keySha256: string | null;
  readonly source: string | null;
  readonly tokenId: string | null;
}

/**
 * Refused enrollment attempts (audit rows `refused`), grouped by device id, source and code: what
 * `fleetcert device list --refused` shows, so a board refused on first contact is visible.
 */
export interface RefusalGroup {
  /** The id the request asked for; null when it was refused before its CSR was read (a bad token). */
  readonly deviceId: string | null;
  readonly source: string | null;
  readonly code: string | null;
  readonly count: number;
  readonly firstAt: Date;
  readonly lastAt: Date;
}

/** A device flagged for sessions taken over repeatedly (audit rows `session_takeover`, server/sessions/session-churn.ts). */
export interface TakeoverFlag {
  readonly deviceId: string;
  /** How many times it was flagged (at most once per detection window). */
  readonly flags: number;
  readonly firstAt: Date;
  readonly lastAt: Date;
}

export type NewAuditEntry = Omit<AuditEntry, 'seq' | 'deviceId' | 'tokenId' | 'serial' | 'code' | 'source' | 'detail'> &
  Partial<Pick<AuditEntry, 'deviceId' | 'tokenId' | 'serial' | 'code' | 'source' | 'detail'>>;

export interface NewCertificate {
  readonly serial: string;
  readonly keySha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly pem: string;
}

/**
 * The state of a device that a decision was made from. A write that carries it applies only
 * while that state still holds (compare-and-swap), and fails with `registry_conflict`
 * otherwise: another process (the CLI's `device revoke`, another server) may have changed the
 * device since it was read, and no lock in this process can know.
 */
export interface DeviceExpectation {
  /** The device's status, or 'absent' when it had no row. */
  readonly status: DeviceStatus | 'absent';
  readonly pendingKeySha256: string | null;
  /** The serial of the device's active certificate, or null when it had none. */
  readonly activeSerial: string | null;
}

/** What a decision read: the device (if any) and its active certificate (if any). */
export function expectationOf(device: DeviceRecord | undefined, active: CertificateRecord | undefined): DeviceExpectation {
  return { status: device?.status ?? 'absent', pendingKeySha256: device?.pendingKeySha256 ?? null, activeSerial: active?.serial ?? null };
}

export interface IssueRecord {
  readonly deviceId: string;
  readonly expected: DeviceExpectation;
  readonly tokenId: string | null;
  readonly labels: Labels;
  readonly metadata: Record<string, unknown> | undefined;
  readonly certificate: NewCertificate;
  /** Count one use of the token, refusing with token_exhausted if none is left. */
  readonly countTokenUse: boolean;
  readonly action: 'issued' | 'reissued' | 'renewed';
  readonly source: string | null;
  readonly now: Date;
}

/** What recording an issued certificate did to the device's previous one. */
export interface IssueOutcome {
  /** The serial of the previous active certificate, now superseded or revoked; null if none. */
  readonly predecessor: string | null;
  /** True when the predecessor was marked key-compromised and is now revoked (keyCompromise). */
  readonly predecessorRevoked: boolean;
}

export interface PendingRecord {
  readonly deviceId: string;
  readonly expected: DeviceExpectation;
  readonly tokenId: string;
  readonly labels: Labels;
  readonly metadata: Record<string, unknown> | undefined;
  readonly keySha256: string;
  readonly countTokenUse: boolean;
  readonly source: string | null;
  readonly now: Date;
}

// ---- console administrators ----

/** viewer: sees everything; operator: also approves, resets, revokes, renews and manages tokens. */
export const ADMIN_ROLES = ['viewer', 'operator'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface AdminRecord {
  readonly name: string;
  readonly role: AdminRole;
  /** The stored password hash (`scrypt$...`), or null when this admin logs in with a certificate only. */
  readonly passwordHash: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What `saveAdmin` changes: the role always; the password and a new client certificate when given. */
export interface AdminChange {
  readonly name: string;
  readonly role: AdminRole;
  readonly passwordHash?: string;
  readonly certificate?: { readonly serial: string; readonly notAfter: Date };
  readonly now: Date;
  readonly source: string | null;
}

// ---- backend consumers (fleetcert service) ----

export const SERVICE_STATUSES = ['active', 'revoked'] as const;
export type ServiceStatus = (typeof SERVICE_STATUSES)[number];

/** A program that reads device data (Node-RED, Telegraf, a database writer): its grants and its certificates. */
export interface ServiceRecord {
  readonly name: string;
  /** MQTT topic filters it may subscribe to, and publish to; rendered as its ACL lines. */
  readonly read: readonly string[];
  readonly write: readonly string[];
  readonly status: ServiceStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Oldest first. */
  readonly certificates: readonly ServiceCertificate[];
}

export interface ServiceCertificate {
  readonly serial: string;
  readonly notAfter: Date;
  readonly issuedAt: Date;
  readonly revokedAt: Date | null;
}

/**
 * What `saveService` records: a newly issued certificate, and either new grants (replacing the old
 * ones, the service active again) or none: a renewal, recorded only while the service is active.
 */
export interface ServiceChange {
  readonly name: string;
  readonly grants?: { readonly read: readonly string[]; readonly write: readonly string[] };
  readonly certificate: { readonly serial: string; readonly notAfter: Date };
  readonly now: Date;
  readonly source: string | null;
}

// ---- fleet views (the console's device list, `device list` filters, metrics) ----

export const DEVICE_SORTS = ['id', 'status', 'last_seen', 'expires'] as const;
export type DeviceSort = (typeof DEVICE_SORTS)[number];

/** A page of the device list, filtered and sorted by the registry (10,000 devices never cross the seam to be sorted). */
export interface DeviceQuery {
  readonly status?: DeviceStatus;
  /** Substring of the id or of a label value (case-insensitive). */
  readonly search?: string;
  /** Only devices whose active certificate expires before this moment. */
  readonly expiringBefore?: Date;
  /** Only devices not seen since this moment. */
  readonly silentSince?: Date;
  readonly sort?: DeviceSort;
  readonly descending?: boolean;
  readonly offset?: number;
  /** Default: all. */
  readonly limit?: number;
}

export interface DeviceSummary {
  readonly device: DeviceRecord;
  /** The device's newest certificate that is not superseded (as `currentCertificate`). */
  readonly current: CertificateRecord | undefined;
}

export interface DevicePage {
  readonly devices: DeviceSummary[];
  /** How many devices match the filters, across all pages. */
  readonly total: number;
}

/** The fleet at a glance, counted by the registry. */
export interface FleetSummary {
  readonly byStatus: Readonly<Record<DeviceStatus, number>>;
  /** Devices whose last status says online (or renewing). */
  readonly online: number;
  /** Active certificates expiring on each day from `now` (index 0: the next 24 hours), over `days` days. */
  readonly expiringPerDay: readonly number[];
  /** Active certificates already past notAfter. */
  readonly expired: number;
  readonly certificates: number;
  readonly auditEntries: number;
}

/** Audit rows of a given kind, counted per hour and code: enrollments and refusals at a glance. */
export interface AuditCount {
  readonly hour: Date;
  readonly action: AuditAction;
  readonly code: string | null;
  readonly count: number;
}

export interface AuditFilter {
  readonly deviceId?: string;
  readonly action?: AuditAction;
  /** Only rows with seq below this (the next page of a newest-first listing). */
  readonly beforeSeq?: number;
  readonly limit?: number;
}

/** A signed CRL as the registry keeps it: the latest one, which every server serves and publishes from. */
export interface StoredCrl {
  readonly crlNumber: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly der: Buffer;
}
