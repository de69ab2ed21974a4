/**
 * One renewal: re-read the live key and certificate from disk (never cached across cycles),
 * make a NEW key (written 0600 before any network call; a renewal that crashed reuses it, and
 * the server then returns the same successor), send `simplereenroll` over mutual TLS with the
 * current certificate, verify the answer, install it as a new generation, run the hooks.
 *
 * When the server will not renew this certificate any more (expired past its grace window,
 * revoked, no longer the device's current one), the agent falls back to the bootstrap token if
 * a bootstrap file is still on the device: a first enrollment again, under the token's rules.
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
import { findBootstrap } from '../config/bootstrap.js';
import type { StateLayout } from '../config/state-layout.js';
import { readCredentialPems, type CredentialStore, type LiveCredentials } from '../credentials/credential-store.js';
import { verifyIssued } from '../credentials/verify-issued.js';
import { enrollDevice } from '../enrollment/enroll-device.js';
import { EstClient, type EstEndpoint } from '../enrollment/est-client.js';
import { refusalAdvice } from '../enrollment/refusal-advice.js';
import { runHooks } from '../hooks/run-hooks.js';
import { withRenewalLock } from './renewal-lock.js';
import { ServerRefused } from '../enrollment/server-refused.js';

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
    const live = await p.store.live();
    if (!live)
      throw new FleetcertError('not_enrolled', 'nothing to renew: no live certificate', { hint: 'run "fleetcert-agent enroll" first' });
    const deviceId = describeCertificate(live.certificate).subjectCommonName ?? '';
    try {
      return { live: await renewOverMtls(p, live, deviceId), via: 'renewed' };
    } catch (err) {
      if (!(err instanceof ServerRefused) || !TOKEN_FALLBACK.has(err.refusal)) throw err;
      const found = await findBootstrap(p.bootstrapFiles);
      if (!found) {
        p.log.error(`${err.message}; no bootstrap file to enroll again with`, {
          event: 'token_fallback_unavailable',
          refusal: err.refusal,
          deviceId,
          looked: p.bootstrapFiles,
        });
        throw err;
      }
      p.log.warn(`${err.message}; enrolling again with the bootstrap token`, {
        event: 'token_fallback',
        refusal: err.refusal,
        deviceId,
        bootstrap: found.path,
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
      return { live: enrolled, via: 'reenrolled' };
    }
  });
}

async function renewOverMtls(p: RenewParams, live: LiveCredentials, deviceId: string): Promise<LiveCredentials> {
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
  const installed = await p.store.install(leaf, outcome.chain, root);
  const next = describeCertificate(leaf);
  p.log.info('certificate renewed', {
    event: 'certificate_renewed',
    deviceId,
    serial: next.serialNumber,
    notAfter: next.notAfter,
    previousSerial: current.serialNumber,
    generation: installed.generation,
  });
  await new SavedClock(p.layout.clockFile, p.log).save(new Date());
  await runHooks(p.hooksDir, { deviceId, files: installed.files, generation: installed.generation, event: 'renewed' }, p.log);
  return installed;
}
