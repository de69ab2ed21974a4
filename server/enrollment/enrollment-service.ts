/**
 * Enrollment and re-enrollment, transport-free: authenticate, parse, decide (pure policy),
 * sign, record. Every refusal is audited with its code and thrown as a FleetcertError whose
 * public message is all the client sees; the operator's reason goes to the log and audit.
 */
import { FleetcertError, isFleetcertError, type ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import type { DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import { decodeCsrBody } from '../../shared/protocol/est.js';
import { readCertificate, describeCertificate, MAX_CERTIFICATE_BYTES, type CertificateInfo } from '../../shared/pki/certificate.js';
import { toDer, toPem } from '../../shared/pki/encoding.js';
import type { RenewalInfo } from '../../shared/protocol/renewal-info.js';
import { parseCsr, type ParsedCsr } from '../../shared/pki/csr.js';
import { verifyChain } from '../../shared/pki/verify-chain.js';
import type { Authority } from '../authority/authority.js';
import { expectationOf, type CertificateRecord, type DeviceExpectation, type DeviceRecord, type TokenRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { parseFleetToken, secretMatches } from '../tokens/fleet-token.js';
import { decideEnrollment, decideReenrollment, deviceIdRefusal, type EnrollDecision } from './enrollment-policy.js';
import { renewalHint } from '../renewal/renewal-hint.js';
import { KeyedLock } from './keyed-lock.js';

export interface EnrollmentSettings {
  readonly deviceLifetimeSeconds: number;
  /** notBefore = now - backdate, for devices whose clock lags a little. */
  readonly backdateSeconds: number;
  /** Retry-After sent with 202 while a device waits for approval. */
  readonly pendingRetryAfterSeconds: number;
  /** How long after expiry a device's latest, unrevoked certificate may still renew itself. */
  readonly renewalGraceSeconds: number;
  /** The server's own names (lowercase), reserved as device ids. */
  readonly serverNames?: ReadonlySet<string>;
  /** The URL every device certificate names as its CRL distribution point (serve: the EST port's, or --crl-url). */
  readonly crlDistributionPoint?: string;
}

export interface RequestContext {
  /** The client's address, for rate limiting and the audit log. */
  readonly source: string;
  readonly now: Date;
  readonly metadata: DeviceMetadata | undefined;
}

export type EnrollmentResult =
  /** `chain`: DER, the device's certificate then its issuing CA (the EST reply is assembled from these bytes). */
  | { readonly kind: 'certificate'; readonly chain: readonly Uint8Array[]; readonly serial: string; readonly reused: boolean }
  | { readonly kind: 'pending'; readonly retryAfterSeconds: number };

/**
 * What the service reports to the revocation side of serve (server/revocation/supersede.ts).
 * Optional: without it (tests, tools) nothing beyond the registry happens.
 */
export interface CertificateEvents {
  /** A device used this certificate, unexpired, over mTLS: it holds the key. Never throws. */
  proven(deviceId: string, serial: string, source: string): Promise<void>;
  /** Recording a successor revoked a key-compromised predecessor; resolves once it is cut off. Never throws. */
  compromisedPredecessorRevoked(deviceId: string, serial: string): Promise<void>;
}

/** Fails the same way, and in about the same time, for an unknown id as for a wrong secret. */
const DUMMY_HASH = Buffer.alloc(32);

/**
 * How often a request re-reads and re-decides when its write found the device changed
 * (registry_conflict). Within one process the per-device lock already orders requests, so a
 * conflict means another process or server wrote; a few attempts are plenty.
 */
const DECIDE_ATTEMPTS = 4;

/** What a decision was made from; the write that applies it is conditional on exactly this. */
interface DecidedFrom {
  readonly device: DeviceRecord | undefined;
  readonly expected: DeviceExpectation;
}

export class EnrollmentService {
  private readonly lock = new KeyedLock();
  private crlDistributionPoint: string | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly authority: Authority,
    private readonly settings: EnrollmentSettings,
    private readonly log: Logger,
    private readonly events?: CertificateEvents,
  ) {
    this.crlDistributionPoint = settings.crlDistributionPoint;
  }

  /**
   * Names the CRL distribution point once it is known: a serve whose port the system picks
   * (--listen host:0) learns the port of its own distribution point only once it is bound.
   */
  useCrlDistributionPoint(url: string): void {
    this.crlDistributionPoint = url;
  }

  /** simpleenroll: the fleet token authorises the first certificate for a device id. */
  async enroll(tokenText: string | undefined, body: Uint8Array, ctx: RequestContext): Promise<EnrollmentResult> {
    const audit: AuditFacts = { source: ctx.source, at: ctx.now };
    return this.audited(audit, async () => {
      const token = await this.authenticate(tokenText, audit);
      const csr = await parseCsrBody(body);
      const deviceId = csr.commonName ?? '';
      audit.deviceId = deviceId;
      audit.keySha256 = csr.publicKeyFingerprintSha256;
      const idProblem = deviceIdRefusal(deviceId, this.settings.serverNames);
      if (idProblem?.kind === 'refuse') throw new FleetcertError(idProblem.code, idProblem.reason);
      return this.lock.run(deviceId, () =>
        this.decideAndApply(deviceId, async (from) => {
          const { device } = from;
          const decision = decideEnrollment({
            token,
            deviceId,
            keySha256: csr.publicKeyFingerprintSha256,
            device,
            current: await this.certificateOf(device, 'current'),
            now: ctx.now,
            serverNames: this.settings.serverNames,
          });
          // A device polling while it waits: nothing new to record.
          if (decision.kind === 'pending' && device?.status === 'pending' && device.pendingKeySha256 === csr.publicKeyFingerprintSha256) {
            await this.registry.touchDevice(deviceId, ctx.now);
            return { kind: 'pending', retryAfterSeconds: this.settings.pendingRetryAfterSeconds };
          }
          return this.apply(decision, token, from, deviceId, csr, ctx);
        }),
      );
    });
  }

  /** simplereenroll: the current certificate (presented over mTLS) authorises its successor. */
  async reenroll(peer: Uint8Array | undefined, body: Uint8Array, ctx: RequestContext): Promise<EnrollmentResult> {
    const audit: AuditFacts = { source: ctx.source, at: ctx.now };
    return this.audited(audit, async () => {
      const { info, expired: presentedExpired } = await this.presentedCertificate(peer, ctx.now);
      const deviceId = info.subjectCommonName ?? '';
      audit.deviceId = deviceId;
      audit.serial = info.serialNumber;
      const csr = await parseCsrBody(body);
      audit.keySha256 = csr.publicKeyFingerprintSha256;
      // Renewing with the active certificate proves the device holds it: what it superseded goes.
      if (!presentedExpired) await this.events?.proven(deviceId, info.serialNumber, 'simplereenroll');
      return this.lock.run(deviceId, () =>
        this.decideAndApply(deviceId, async (from) => {
          const decision = decideReenrollment({
            deviceId,
            csrCommonName: csr.commonName,
            keySha256: csr.publicKeyFingerprintSha256,
            presented: await this.registry.getCertificate(info.serialNumber),
            device: from.device,
            current: await this.certificateOf(from.device, 'current'),
            presentedExpired,
          });
          if (presentedExpired && decision.kind === 'issue') {
            this.log.info('renewing an expired certificate inside the grace window', {
              event: 'expired_renewal_allowed',
              deviceId,
              serial: info.serialNumber,
              expiredAt: info.notAfter,
            });
          }
          return this.apply(decision, undefined, from, deviceId, csr, ctx);
        }),
      );
    });
  }

  /** The renewal info for the certificate presented over mTLS (GET /fleetcert/v1/renewal-info). */
  async renewalInfo(peer: Uint8Array | undefined, ctx: RequestContext): Promise<RenewalInfo> {
    try {
      const { info } = await this.presentedCertificate(peer, ctx.now);
      const deviceId = info.subjectCommonName ?? '';
      const record = await this.registry.getCertificate(info.serialNumber);
      if (!record || record.deviceId !== deviceId)
        throw new FleetcertError('certificate_not_current', `certificate ${info.serialNumber} of "${deviceId}" is not in the registry`);
      if ((await this.registry.getDevice(deviceId))?.status === 'revoked') {
        throw new FleetcertError('device_revoked', `device "${deviceId}" is revoked`);
      }
      if (record.status === 'revoked') {
        const why = record.revocationReason ?? 'unspecified';
        throw new FleetcertError('certificate_not_current', `certificate ${record.serial} of "${deviceId}" is revoked (${why})`);
      }
      if (record.status === 'active') await this.events?.proven(deviceId, record.serial, 'renewal-info');
      return renewalHint(record);
    } catch (err) {
      // Not audited: devices poll this; a refusal here decides nothing.
      this.log.info('renewal info refused', {
        event: 'renewal_info_refused',
        code: isFleetcertError(err) ? err.code : 'internal',
        reason: err instanceof Error ? err.message : String(err),
        source: ctx.source,
      });
      throw err;
    }
  }

  /**
   * The client certificate presented over mutual TLS, validated against this CA. An expired
   * one passes only inside the renewal grace window; whether it may renew is the policy's call.
   */
  private async presentedCertificate(peer: Uint8Array | undefined, now: Date): Promise<{ info: CertificateInfo; expired: boolean }> {
    if (peer === undefined) throw new FleetcertError('client_certificate_required', 'no client certificate was presented');
    const presented = readCertificate(peer);
    await verifyChain({
      leaf: presented,
      intermediates: [this.authority.issuer.certificate],
      roots: [this.authority.root],
      now,
      leafGraceMs: this.settings.renewalGraceSeconds * 1000,
    });
    const info = describeCertificate(presented);
    return { info, expired: now > info.notAfter };
  }

  private async authenticate(tokenText: string | undefined, audit: AuditFacts): Promise<TokenRecord> {
    const parsed = tokenText === undefined ? undefined : parseFleetToken(tokenText);
    if (parsed === undefined) throw new FleetcertError('token_invalid', tokenText === undefined ? 'no token presented' : 'malformed token');
    audit.claimedTokenId = parsed.id;
    const token = await this.registry.getToken(parsed.id);
    const ok = secretMatches(parsed.secret, token?.secretHash ?? DUMMY_HASH);
    if (!token || !ok)
      throw new FleetcertError('token_invalid', token ? `wrong secret for token ${parsed.id}` : `unknown token id ${parsed.id}`);
    audit.tokenId = token.id;
    return token;
  }

  /**
   * Reads the device, decides and applies; when the write finds the device changed since the
   * read (registry_conflict: a revoke or another server got there first), reads and decides
   * again, so the answer is the one the new state calls for (e.g. device_revoked).
   * The per-device lock is only an optimisation that keeps one process from conflicting with
   * itself; correctness rests on the conditional writes.
   */
  private async decideAndApply(deviceId: string, attempt: (from: DecidedFrom) => Promise<EnrollmentResult>): Promise<EnrollmentResult> {
    for (let n = 1; ; n += 1) {
      const device = await this.registry.getDevice(deviceId);
      const from = { device, expected: expectationOf(device, await this.certificateOf(device, 'active')) };
      try {
        return await attempt(from);
      } catch (err) {
        if (!isFleetcertError(err, 'registry_conflict') || n >= DECIDE_ATTEMPTS) throw err;
        const facts = { event: 'enrollment_redecided', deviceId, attempt: n, reason: err.message };
        this.log.info('device changed while deciding; deciding again', facts);
      }
    }
  }

  /**
   * The device's active or current certificate. A device that is not in the registry has none
   * (certificates.device_id references devices, in both backends), so a first enrollment, the
   * common case, reads neither; what was read is still only what the conditional write checks.
   */
  private async certificateOf(device: DeviceRecord | undefined, which: 'active' | 'current'): Promise<CertificateRecord | undefined> {
    if (device === undefined) return undefined;
    return which === 'active' ? this.registry.activeCertificate(device.id) : this.registry.currentCertificate(device.id);
  }

  private async apply(
    decision: EnrollDecision,
    token: TokenRecord | undefined,
    from: DecidedFrom,
    deviceId: string,
    csr: ParsedCsr,
    ctx: RequestContext,
  ): Promise<EnrollmentResult> {
    switch (decision.kind) {
      case 'refuse':
        throw new FleetcertError(decision.code, decision.reason);
      case 'reuse':
        await this.registry.touchDevice(deviceId, ctx.now, ctx.metadata);
        const { serial } = decision.certificate;
        this.log.info('returned the current certificate again', { event: 'certificate_reused', deviceId, serial });
        const chain = [storedCertificateDer(decision.certificate), this.issuerDer()];
        return { kind: 'certificate', chain, serial, reused: true };
      case 'pending':
        await this.registry.recordPending({
          deviceId,
          expected: from.expected,
          tokenId: token!.id,
          labels: token!.labels,
          metadata: ctx.metadata,
          keySha256: csr.publicKeyFingerprintSha256,
          countTokenUse: decision.countTokenUse,
          source: ctx.source,
          now: ctx.now,
        });
        const keySha256 = csr.publicKeyFingerprintSha256;
        this.log.info('enrollment waits for approval', { event: 'enrollment_pending', deviceId, tokenId: token!.id, keySha256 });
        return { kind: 'pending', retryAfterSeconds: this.settings.pendingRetryAfterSeconds };
      case 'issue': {
        // The CSR contributes its key and nothing else; the issuer's answer is recorded as it is.
        const issued = await this.authority.issuer.issue({
          profile: 'device-client',
          subject: { commonName: deviceId },
          publicKeySpki: csr.publicKeySpki,
          now: ctx.now,
          lifetimeSeconds: this.settings.deviceLifetimeSeconds,
          backdateSeconds: this.settings.backdateSeconds,
          ...(this.crlDistributionPoint === undefined ? {} : { crlDistributionPoint: this.crlDistributionPoint }),
        });
        // Signed but not yet recorded: if recording fails, this certificate never reaches the client.
        const outcome = await this.registry.recordIssued({
          deviceId,
          expected: from.expected,
          tokenId: token?.id ?? null,
          labels: token?.labels ?? from.device?.labels ?? {},
          metadata: ctx.metadata,
          certificate: {
            serial: issued.serial,
            keySha256: csr.publicKeyFingerprintSha256,
            notBefore: issued.notBefore,
            notAfter: issued.notAfter,
            pem: toPem(issued.der, 'CERTIFICATE'),
          },
          countTokenUse: decision.countTokenUse,
          action: decision.action,
          source: ctx.source,
          now: ctx.now,
        });
        this.log.info(`certificate ${decision.action}`, {
          event: `certificate_${decision.action}`,
          deviceId,
          serial: issued.serial,
          notAfter: issued.notAfter,
          tokenId: token?.id,
        });
        // Cut the compromised key off before its successor leaves: the session still on it is the old one.
        if (outcome.predecessorRevoked && outcome.predecessor) {
          await this.events?.compromisedPredecessorRevoked(deviceId, outcome.predecessor);
        }
        return { kind: 'certificate', chain: [issued.der, this.issuerDer()], serial: issued.serial, reused: false };
      }
    }
  }

  private issuerDer(): Uint8Array {
    return new Uint8Array(this.authority.issuer.certificate.rawData);
  }

  /** Runs a request; any refusal is written to the audit log and the log, then rethrown. */
  private async audited(facts: AuditFacts, work: () => Promise<EnrollmentResult>): Promise<EnrollmentResult> {
    try {
      return await work();
    } catch (err) {
      const code: ErrorCode = isFleetcertError(err) ? err.code : 'internal';
      const reason = err instanceof Error ? err.message : String(err);
      try {
        await this.registry.audit({
          at: facts.at,
          action: 'refused',
          code,
          deviceId: facts.deviceId ?? null,
          tokenId: facts.tokenId ?? null,
          serial: facts.serial ?? null,
          source: facts.source,
          detail: {
            reason: reason.slice(0, 300),
            // The key that asked: a competing key for a waiting id is flagged by it (device list --pending).
            ...(facts.keySha256 ? { keySha256: facts.keySha256 } : {}),
            ...(facts.claimedTokenId && !facts.tokenId ? { claimedTokenId: facts.claimedTokenId } : {}),
          },
        });
      } catch (auditErr) {
        this.log.error('could not write the audit log', { err: auditErr });
      }
      // A server fault (no HTTP status, or 5xx: a corrupt row, a bug) is logged as an error; a refusal is the client's.
      const status = isFleetcertError(err) ? err.status : undefined;
      if (status === undefined || status >= 500) {
        this.log.error('enrollment failed', { event: 'enrollment_failed', code, err, deviceId: facts.deviceId, source: facts.source });
      } else {
        const { deviceId, tokenId, source, keySha256 } = facts;
        this.log.info('enrollment refused', { event: 'enrollment_refused', code, reason, deviceId, tokenId, source, keySha256 });
      }
      throw err;
    }
  }
}

/**
 * The DER of a certificate the registry holds, checked to parse: if it does not, the row is
 * corrupt (a server fault, not the client's).
 */
function storedCertificateDer(record: CertificateRecord): Uint8Array {
  try {
    const der = toDer(record.pem, 'certificate_invalid', MAX_CERTIFICATE_BYTES);
    readCertificate(der);
    return der;
  } catch (err) {
    throw new FleetcertError('registry_corrupt', `registry row certificates/${record.serial}: pem does not parse`, { cause: err });
  }
}

/** The CSR of an EST request body (base64 DER or PEM), parsed and verified. */
async function parseCsrBody(body: Uint8Array): Promise<ParsedCsr> {
  const der = decodeCsrBody(body);
  if (der === undefined) throw new FleetcertError('csr_invalid', 'the body is neither base64 DER nor a PEM CSR');
  return parseCsr(der);
}

interface AuditFacts {
  source: string;
  at: Date;
  deviceId?: string;
  tokenId?: string;
  claimedTokenId?: string;
  serial?: string;
  /** SHA-256 of the CSR's public key, once the CSR parsed. */
  keySha256?: string;
}
