/**
 * One renewal, in two phases (thin-edge.io, Greengrass's rotator, fioconfig): re-read the live
 * key and certificate from disk (never cached across cycles), make a NEW key (written 0600
 * before any network call; a renewal that crashed reuses it, and the server then returns the
 * same successor), send `simplereenroll` over mutual TLS with the current certificate, verify
 * the answer and install it beside `live` as a candidate; prove it by connecting to the broker
 * with it; only then make it live and run the hooks. A candidate found at the start (a renewal
 * killed or unproven before) is proven and committed without asking the server again.
 *
 * When the server will not renew this certificate any more (expired past its grace window,
 * revoked, no longer the device's current one), the agent falls back to the bootstrap token if
 * it still has one (its state copy first, else a bootstrap file): a first enrollment again, under
 * the token's rules.
 * Without one, the refusal stands, with advice for the operator.
 */
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import type { DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import type { RefusalCode, WireErrorCode } from '../../shared/protocol/error-codes.js';
import { certificateToPem, describeCertificate, readCertificate } from '../../shared/pki/certificate.js';
import { buildCsr } from '../../shared/pki/csr.js';
import type { KeyType } from '../../shared/pki/key-pair.js';
import { SavedClock } from '../clock/clock-floor.js';
import { findToken } from '../config/bootstrap-token.js';
import type { StateLayout } from '../config/state-layout.js';
import { readCredentialPems, type Candidate, type CredentialStore, type LiveCredentials } from '../credentials/credential-store.js';
import { verifyIssued } from '../credentials/verify-issued.js';
import { enrollDevice } from '../enrollment/enroll-device.js';
import { EstClient, type EstEndpoint } from '../enrollment/est-client.js';
import { refusalAdvice } from '../enrollment/refusal-advice.js';
import { runHooks } from '../hooks/run-hooks.js';
import { moveTokenOffBoot } from '../runtime/move-token-off-boot.js';
import { withRenewalLock } from './renewal-lock.js';
import { ServerRefused } from '../enrollment/server-refused.js';
import type { ProofResult } from '../mqtt/prove-certificate.js';

export interface RenewParams {
  readonly layout: StateLayout;
  readonly store: CredentialStore;
  readonly endpoint: EstEndpoint;
  readonly keyType: KeyType;
  readonly hooksDir: string;
  readonly metadata: DeviceMetadata;
  readonly log: Logger;
  /** Where a bootstrap file may still be, for the fallback to the fleet token. */
  readonly bootstrapFiles: readonly string[];
  /** Connects with a renewed certificate before it is made live (two-phase renewal). */
  readonly prove: (candidate: Candidate, deviceId: string) => Promise<ProofResult>;
}

/** Refusals after which this certificate will never renew: only the token can help. */
const TOKEN_FALLBACK: ReadonlySet<RefusalCode> = new Set<WireErrorCode>([
  'cert_expired',
  'device_revoked',
  'certificate_not_current',
  'chain_invalid',
]);

export interface Renewed {
  readonly live: LiveCredentials;
  /** `renewed` over mutual TLS, or `reenrolled` with the bootstrap token. */
  readonly via: 'renewed' | 'reenrolled';
}

export async function renewCertificate(p: RenewParams): Promise<Renewed> {
  return withRenewalLock(p.layout.renewLock, p.log, async () => {
    const live = await p.store.requireLive();
    const deviceId = describeCertificate(live.certificate).subjectCommonName ?? '';
    let candidate = live.candidate;
    if (candidate) {
      // Installed by an earlier renewal that was killed or could not prove it: the server's current certificate.
      p.log.info('proving the renewed certificate installed earlier', {
        event: 'renewal_resumed',
        deviceId,
        generation: candidate.generation,
        serial: describeCertificate(candidate.certificate).serialNumber,
      });
    } else {
      try {
        candidate = await renewOverMtls(p, live, deviceId);
      } catch (err) {
        if (!(err instanceof ServerRefused) || !TOKEN_FALLBACK.has(err.refusal)) throw err;
        return { live: await enrollAgain(p, err, deviceId), via: 'reenrolled' };
      }
    }
    return { live: await proveAndCommit(p, live, candidate, deviceId), via: 'renewed' };
  });
}

/** The certificate will never renew: a first enrollment again with the bootstrap token, if one is still on the device. */
async function enrollAgain(p: RenewParams, err: ServerRefused, deviceId: string): Promise<LiveCredentials> {
  const found = await findToken(p.layout, p.bootstrapFiles);
  if (!found) {
    p.log.error(`${err.message}; no bootstrap token to enroll again with`, {
      event: 'token_fallback_unavailable',
      refusal: err.refusal,
      deviceId,
      looked: [p.layout.bootstrapCopy, ...p.bootstrapFiles],
    });
    throw err;
  }
  p.log.warn(`${err.message}; enrolling again with the bootstrap token`, {
    event: 'token_fallback',
    refusal: err.refusal,
    deviceId,
    bootstrap: found.path,
    location: found.location,
  });
  const enrolled = await enrollDevice({
    bootstrap: found.bootstrap,
    endpoint: p.endpoint,
    deviceId,
    metadata: p.metadata,
    keyType: p.keyType,
    store: p.store,
    pinFile: p.layout.pinnedCa,
    hooksDir: p.hooksDir,
    log: p.log,
    giveUpOnOperator: true,
    // One attempt: the renewal schedule owns the retrying.
    deadlineSeconds: 0,
  });
  await moveTokenOffBoot(found, p.layout, p.log);
  return enrolled;
}

/** Phase one: a new key, simplereenroll over mutual TLS, the answer verified and installed beside `live` as a candidate. */
async function renewOverMtls(p: RenewParams, live: LiveCredentials, deviceId: string): Promise<Candidate> {
  const current = describeCertificate(live.certificate);
  const pems = await readCredentialPems(live.files);
  const root = readCertificate(pems.caPem);
  const { keys, created } = await p.store.pendingKey(p.keyType);
  p.log.info(created ? 'renewing with a new key' : 'renewing with the new key of an interrupted renewal', {
    event: 'renewal_started',
    deviceId,
    currentSerial: current.serialNumber,
    notAfter: current.notAfter,
  });
  const csr = await buildCsr({ keys, commonName: deviceId });
  const outcome = await new EstClient(p.endpoint, certificateToPem(root), p.log).simpleReenroll(csr.der, pems, p.metadata);
  if (outcome.kind === 'refused') {
    const advice = refusalAdvice(outcome.code, deviceId);
    throw new ServerRefused(
      outcome.code,
      `renewal refused (${outcome.code}): ${advice.needsOperator ? advice.message : outcome.message || advice.message}`,
    );
  }
  if (outcome.kind === 'pending') throw new FleetcertError('enrollment_refused', 'renewal unexpectedly pending approval');
  const leaf = await verifyIssued({ chain: outcome.chain, keys, deviceId, root, now: new Date() });
  const candidate = await p.store.installCandidate(leaf, outcome.chain, root);
  p.log.info('renewed certificate installed; proving it at the broker before it becomes live', {
    event: 'renewal_candidate_installed',
    deviceId,
    serial: describeCertificate(leaf).serialNumber,
    generation: candidate.generation,
    liveGeneration: live.generation,
  });
  return candidate;
}

/**
 * Phase two: the candidate connects to the broker; only then is it made live (and the previous
 * generation kept, older ones pruned) and the hooks run. A candidate that cannot connect is kept
 * for the next attempt and the previous certificate stays live: the device is never stranded.
 */
async function proveAndCommit(p: RenewParams, live: LiveCredentials, candidate: Candidate, deviceId: string): Promise<LiveCredentials> {
  const next = describeCertificate(candidate.certificate);
  const previousSerial = describeCertificate(live.certificate).serialNumber;
  const proof = await p.prove(candidate, deviceId);
  if (!proof.proven) {
    p.log.warn(`the renewed certificate could not connect to the broker (${proof.reason}); the previous one stays live`, {
      event: 'renewal_unproven',
      deviceId,
      serial: next.serialNumber,
      generation: candidate.generation,
      liveSerial: previousSerial,
      reason: proof.reason,
    });
    throw new FleetcertError(
      'renewal_unproven',
      `the renewed certificate ${next.serialNumber} could not connect to the broker: ${proof.reason}`,
      {
        hint: 'the previous certificate stays in use; the next renewal attempt proves the new one again once the broker accepts it',
      },
    );
  }
  const committed = await p.store.commit(candidate);
  p.log.info('certificate renewed', {
    event: 'certificate_renewed',
    deviceId,
    serial: next.serialNumber,
    notAfter: next.notAfter,
    previousSerial,
    generation: committed.generation,
  });
  await new SavedClock(p.layout.clockFile, p.log).save(new Date());
  await runHooks(p.hooksDir, { deviceId, files: committed.files, generation: committed.generation, event: 'renewed' }, p.log);
  return committed;
}
