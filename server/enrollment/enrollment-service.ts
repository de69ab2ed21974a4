/**
 * Enrollment and re-enrollment, transport-free: authenticate, parse, decide (pure policy),
 * sign, record. Every refusal is audited with its code and thrown as a FleetcertError whose
 * public message is all the client sees; the operator's reason goes to the log and audit.
 */
import { FleetcertError, isFleetcertError, type ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import type { DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import { decodeCsrBody } from '../../shared/protocol/est.js';
import { readCertificate, describeCertificate, type Certificate, type CertificateInfo } from '../../shared/pki/certificate.js';
import type { RenewalInfo } from '../../shared/protocol/renewal-info.js';
import { parseCsr, type ParsedCsr } from '../../shared/pki/csr.js';
import { verifyChain } from '../../shared/pki/verify-chain.js';
import { issueDeviceCertificate, type Authority } from '../authority/authority.js';
import type { Registry, TokenRecord } from '../registry/registry.js';
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
}

export interface RequestContext {
  /** The client's address, for rate limiting and the audit log. */
  readonly source: string;
  readonly now: Date;
  readonly metadata: DeviceMetadata | undefined;
}

export type EnrollmentResult =
  | { readonly kind: 'certificate'; readonly chain: readonly Certificate[]; readonly serial: string; readonly reused: boolean }
  | { readonly kind: 'pending'; readonly retryAfterSeconds: number };

/** Fails the same way, and in about the same time, for an unknown id as for a wrong secret. */
const DUMMY_HASH = Buffer.alloc(32);

export class EnrollmentService {
  private readonly lock = new KeyedLock();

  constructor(
    private readonly registry: Registry,
    private readonly authority: Authority,
    private readonly settings: EnrollmentSettings,
    private readonly log: Logger,
  ) {}

  /** simpleenroll: the fleet token authorises the first certificate for a device id. */
  async enroll(tokenText: string | undefined, body: Uint8Array, ctx: RequestContext): Promise<EnrollmentResult> {
    const audit: AuditFacts = { source: ctx.source, at: ctx.now };
    return this.audited(audit, async () => {
      const token = this.authenticate(tokenText, audit);
      const csr = await parseCsrBody(body);
      const deviceId = csr.commonName ?? '';
      audit.deviceId = deviceId;
      const idProblem = deviceIdRefusal(deviceId, this.settings.serverNames);
      if (idProblem) return this.apply(idProblem, token, deviceId, csr, ctx);
      return this.lock.run(deviceId, async () => {
        const device = this.registry.getDevice(deviceId);
        const decision = decideEnrollment({
          token,
          deviceId,
          keySha256: csr.publicKeyFingerprintSha256,
          device,
          current: this.registry.currentCertificate(deviceId),
          now: ctx.now,
          serverNames: this.settings.serverNames,
        });
        // A device polling while it waits: nothing new to record.
        if (decision.kind === 'pending' && device?.status === 'pending' && device.pendingKeySha256 === csr.publicKeyFingerprintSha256) {
          this.registry.touchDevice(deviceId, ctx.now);
          return { kind: 'pending', retryAfterSeconds: this.settings.pendingRetryAfterSeconds };
        }
        return this.apply(decision, token, deviceId, csr, ctx);
      });
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
      return this.lock.run(deviceId, async () => {
        const decision = decideReenrollment({
          deviceId,
          csrCommonName: csr.commonName,
          keySha256: csr.publicKeyFingerprintSha256,
          presented: this.registry.getCertificate(info.serialNumber),
          device: this.registry.getDevice(deviceId),
          current: this.registry.currentCertificate(deviceId),
          presentedExpired,
        });
        if (presentedExpired && decision.kind === 'issue') this.log.info('renewing an expired certificate inside the grace window', { deviceId, serial: info.serialNumber, expiredAt: info.notAfter });
        return this.apply(decision, undefined, deviceId, csr, ctx);
      });
    });
  }

  /** The renewal info for the certificate presented over mTLS (GET /fleetcert/v1/renewal-info). */
  async renewalInfo(peer: Uint8Array | undefined, ctx: RequestContext): Promise<RenewalInfo> {
    try {
      const { info } = await this.presentedCertificate(peer, ctx.now);
      const deviceId = info.subjectCommonName ?? '';
      const record = this.registry.getCertificate(info.serialNumber);
      if (!record || record.deviceId !== deviceId) throw new FleetcertError('certificate_not_current', `certificate ${info.serialNumber} of "${deviceId}" is not in the registry`);
      if (record.status === 'revoked' || this.registry.getDevice(deviceId)?.status === 'revoked') {
        throw new FleetcertError('device_revoked', `device "${deviceId}" or its certificate ${record.serial} is revoked`);
      }
      return renewalHint(record);
    } catch (err) {
      // Not audited: devices poll this; a refusal here decides nothing.
      this.log.info('renewal info refused', { code: isFleetcertError(err) ? err.code : 'internal', reason: err instanceof Error ? err.message : String(err), source: ctx.source });
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

  private authenticate(tokenText: string | undefined, audit: AuditFacts): TokenRecord {
    const parsed = tokenText === undefined ? undefined : parseFleetToken(tokenText);
    if (parsed === undefined) throw new FleetcertError('token_invalid', tokenText === undefined ? 'no token presented' : 'malformed token');
    audit.claimedTokenId = parsed.id;
    const token = this.registry.getToken(parsed.id);
    const ok = secretMatches(parsed.secret, token?.secretHash ?? DUMMY_HASH);
    if (!token || !ok) throw new FleetcertError('token_invalid', token ? `wrong secret for token ${parsed.id}` : `unknown token id ${parsed.id}`);
    audit.tokenId = token.id;
    return token;
  }

  private async apply(
    decision: EnrollDecision,
    token: TokenRecord | undefined,
    deviceId: string,
    csr: ParsedCsr,
    ctx: RequestContext,
  ): Promise<EnrollmentResult> {
    switch (decision.kind) {
      case 'refuse':
        throw new FleetcertError(decision.code, decision.reason);
      case 'reuse':
        this.registry.touchDevice(deviceId, ctx.now, ctx.metadata);
        this.log.info('returned the current certificate again', { deviceId, serial: decision.certificate.serial });
        return { kind: 'certificate', chain: [readCertificate(decision.certificate.pem), this.authority.issuer.certificate], serial: decision.certificate.serial, reused: true };
      case 'pending':
        this.registry.recordPending({
          deviceId,
          tokenId: token!.id,
          labels: token!.labels,
          metadata: ctx.metadata,
          keySha256: csr.publicKeyFingerprintSha256,
          countTokenUse: decision.countTokenUse,
          source: ctx.source,
          now: ctx.now,
        });
        this.log.info('enrollment waits for approval', { deviceId, tokenId: token!.id, keySha256: csr.publicKeyFingerprintSha256 });
        return { kind: 'pending', retryAfterSeconds: this.settings.pendingRetryAfterSeconds };
      case 'issue': {
        const certificate = await issueDeviceCertificate(this.authority, {
          deviceId,
          publicKeySpki: csr.publicKeySpki,
          now: ctx.now,
          lifetimeSeconds: this.settings.deviceLifetimeSeconds,
          backdateSeconds: this.settings.backdateSeconds,
        });
        const info = describeCertificate(certificate);
        const existing = this.registry.getDevice(deviceId);
        this.registry.recordIssued({
          deviceId,
          tokenId: token?.id ?? null,
          labels: token?.labels ?? existing?.labels ?? {},
          metadata: ctx.metadata,
          certificate: {
            serial: info.serialNumber,
            keySha256: csr.publicKeyFingerprintSha256,
            notBefore: info.notBefore,
            notAfter: info.notAfter,
            pem: certificate.toString('pem') + '\n',
          },
          countTokenUse: decision.countTokenUse,
          action: decision.action,
          source: ctx.source,
          now: ctx.now,
        });
        this.log.info(`certificate ${decision.action}`, { deviceId, serial: info.serialNumber, notAfter: info.notAfter, tokenId: token?.id });
        return { kind: 'certificate', chain: [certificate, this.authority.issuer.certificate], serial: info.serialNumber, reused: false };
      }
    }
  }

  /** Runs a request; any refusal is written to the audit log and the log, then rethrown. */
  private async audited(facts: AuditFacts, work: () => Promise<EnrollmentResult>): Promise<EnrollmentResult> {
    try {
      return await work();
    } catch (err) {
      const code: ErrorCode = isFleetcertError(err) ? err.code : 'internal';
      const reason = err instanceof Error ? err.message : String(err);
      try {
        this.registry.audit({
          at: facts.at,
          action: 'refused',
          code,
          deviceId: facts.deviceId ?? null,
          tokenId: facts.tokenId ?? null,
          serial: facts.serial ?? null,
          source: facts.source,
          detail: { reason: reason.slice(0, 300), ...(facts.claimedTokenId && !facts.tokenId ? { claimedTokenId: facts.claimedTokenId } : {}) },
        });
      } catch (auditErr) {
        this.log.error('could not write the audit log', { err: auditErr });
      }
      if (code === 'internal') this.log.error('enrollment failed', { err, deviceId: facts.deviceId, source: facts.source });
      else this.log.info('enrollment refused', { code, reason, deviceId: facts.deviceId, tokenId: facts.tokenId, source: facts.source });
      throw err;
    }
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
}
