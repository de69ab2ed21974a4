/**
 * First enrollment, from the bootstrap file to installed credentials: key first (0600, before
 * any network call), the CA pinned, the CSR sent with the fleet token, retried with capped
 * backoff and jitter, 202/Retry-After and 429 honoured, every refusal explained in one log
 * line, the result verified, then installed and the hooks run.
 */
import { FleetcertError, isFleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import type { BootstrapFile } from '../../shared/protocol/bootstrap-file.js';
import type { DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import { certificateToPem, describeCertificate } from '../../shared/pki/certificate.js';
import { buildCsr } from '../../shared/pki/csr.js';
import { sha256Hex } from '../../shared/pki/encoding.js';
import { exportPublicKeySpki, type KeyType } from '../../shared/pki/key-pair.js';
import { backoffSeconds, retryAfterWithJitter, type BackoffPolicy } from '../../shared/retry/backoff.js';
import type { CredentialStore, LiveCredentials } from '../credentials/credential-store.js';
import { verifyIssued } from '../credentials/verify-issued.js';
import { runHooks } from '../hooks/run-hooks.js';
import { EstClient, type EstEndpoint } from './est-client.js';
import { pinnedRoot } from './pin-ca.js';
import { refusalAdvice } from './refusal-advice.js';
import { ServerRefused } from './server-refused.js';

export const ENROLL_BACKOFF: BackoffPolicy = { firstSeconds: 5, factor: 2, capSeconds: 300, jitter: 0.2 };
/** How long to wait after a refusal only an operator can fix before asking again. */
export const OPERATOR_WAIT_SECONDS = 15 * 60;

export interface EnrollParams {
  readonly bootstrap: BootstrapFile;
  readonly endpoint: EstEndpoint;
  readonly deviceId: string;
  readonly metadata: DeviceMetadata;
  readonly keyType: KeyType;
  readonly store: CredentialStore;
  readonly pinFile: string;
  readonly hooksDir: string;
  readonly log: Logger;
  /** `enroll` gives up on refusals only an operator can fix; `run` waits and asks again. */
  readonly giveUpOnOperator: boolean;
  /** Give up after this long (seconds), or never. */
  readonly deadlineSeconds?: number;
  readonly sleep?: (seconds: number) => Promise<void>;
}

export async function enrollDevice(p: EnrollParams): Promise<LiveCredentials> {
  const sleep = p.sleep ?? ((s: number) => new Promise<void>((r) => setTimeout(r, s * 1000)));
  const deadline = p.deadlineSeconds === undefined ? Infinity : Date.now() + p.deadlineSeconds * 1000;
  const { keys, created } = await p.store.pendingKey(p.keyType);
  const keyFingerprint = sha256Hex(await exportPublicKeySpki(keys));
  p.log.info(created ? 'key generated on the device' : 'reusing the key waiting for its certificate', {
    event: created ? 'key_generated' : 'key_reused',
    keyType: p.keyType,
    keySha256: keyFingerprint,
  });

  let attempt = 0;
  const wait = async (seconds: number, why: string, event = 'enrollment_retry') => {
    if (Date.now() + seconds * 1000 > deadline) throw new FleetcertError('server_unreachable', `gave up enrolling: ${why}`);
    p.log.info(`retrying in ${Math.round(seconds)} s`, { event, why, delaySeconds: Math.round(seconds) });
    await sleep(seconds);
  };
  for (;;) {
    try {
      const root = await pinnedRoot(p.bootstrap, p.endpoint, p.pinFile, p.log);
      const client = new EstClient(p.endpoint, certificateToPem(root), p.log);
      const csr = await buildCsr({ keys, commonName: p.deviceId });
      p.log.info('sending the certificate request', { deviceId: p.deviceId, url: p.endpoint.url });
      const outcome = await client.simpleEnroll(p.bootstrap.token, csr.der, p.metadata);
      if (outcome.kind === 'issued') {
        const leaf = await verifyIssued({ chain: outcome.chain, keys, deviceId: p.deviceId, root, now: new Date() });
        const live = await p.store.install(leaf, outcome.chain, root);
        const info = describeCertificate(leaf);
        p.log.info('certificate installed', {
          event: 'certificate_installed',
          deviceId: p.deviceId,
          serial: info.serialNumber,
          notAfter: info.notAfter,
          generation: live.generation,
        });
        await runHooks(p.hooksDir, { deviceId: p.deviceId, files: live.files, generation: live.generation, event: 'installed' }, p.log);
        return live;
      }
      if (outcome.kind === 'pending') {
        // The operator compares this fingerprint with "fleetcert device list --pending" before approving.
        const approve = `fleetcert device approve ${p.deviceId} --key-sha256 ${keyFingerprint}`;
        await wait(outcome.retryAfterSeconds, `waiting for an operator to run "${approve}"`, 'approval_pending');
        continue;
      }
      const advice = refusalAdvice(outcome.code, p.deviceId);
      p.log.error(`enrollment refused (${outcome.code}): ${advice.message}`, {
        event: 'enrollment_refused',
        code: outcome.code,
        status: outcome.status,
      });
      if (advice.needsOperator) {
        if (p.giveUpOnOperator) throw new ServerRefused(outcome.code, `refused (${outcome.code}): ${advice.message}`);
        await wait(OPERATOR_WAIT_SECONDS, `refused (${outcome.code})`);
      } else {
        // A server's Retry-After (busy, rate limited) is honoured with jitter; without one, back off.
        const asked = outcome.retryAfterSeconds;
        const delay = asked === undefined ? backoffSeconds(attempt++, ENROLL_BACKOFF) : retryAfterWithJitter(asked);
        await wait(delay, `refused (${outcome.code})`);
      }
    } catch (err) {
      // The pin not matching, a bad bootstrap file or a wrong clock are not fixed by retrying soon.
      if (
        isFleetcertError(err) &&
        ['ca_pin_mismatch', 'bootstrap_invalid', 'enrollment_refused', 'issued_certificate_invalid'].includes(err.code)
      )
        throw err;
      if (!isFleetcertError(err) || !['server_unreachable', 'clock_not_set', 'pkcs7_invalid'].includes(err.code)) throw err;
      p.log.warn(`enrollment attempt failed: ${err.message}`, { code: err.code });
      await wait(backoffSeconds(attempt++, ENROLL_BACKOFF), err.code);
    }
  }
}
