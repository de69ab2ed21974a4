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
  | 'renew_requested';

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

/** A signed CRL as the registry keeps it: the latest one, which every server serves and publishes from. */
export interface StoredCrl {
  readonly crlNumber: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly der: Buffer;
}
