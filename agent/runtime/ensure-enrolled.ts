/**
 * Bring-up: a plausible clock, then either the live credentials already installed (even
 * expired: renewal deals with that) or a first enrollment from the bootstrap file; either way
 * the endpoints are known and kept for local programs in broker.json.
 */
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import type { AgentConfig } from '../config/agent-config.js';
import { readBootstrapFiles } from '../config/bootstrap.js';
import { findToken } from '../config/bootstrap-token.js';
import type { StateLayout } from '../config/state-layout.js';
import { currentClockFloor, SavedClock } from '../clock/clock-floor.js';
import { waitForClock } from '../clock/wait-for-clock.js';
import { CredentialStore, type LiveCredentials } from '../credentials/credential-store.js';
import { hardwareFacts, keepCredentialsToThisBoard, recordBinding } from '../credentials/hardware-binding.js';
import {
  endpointsFromInfo,
  readBrokerInfo,
  resolveEndpoints,
  withExplicitEndpoints,
  writeBrokerInfo,
  type Endpoints,
} from '../discovery/endpoints.js';
import { enrollDevice } from '../enrollment/enroll-device.js';
import { deviceMetadata, resolveIdentity } from '../identity/resolve-identity.js';
import { systemFacts } from '../identity/system-metadata.js';
import { moveLeftoverToken, moveTokenOffBoot } from './move-token-off-boot.js';

export interface Enrolled {
  readonly deviceId: string;
  readonly live: LiveCredentials;
  readonly endpoints: Endpoints;
  readonly enrolledNow: boolean;
}

export interface BringUpOptions {
  readonly giveUpOnOperator: boolean;
  readonly deadlineSeconds?: number;
  /** Every wait of the bring-up (clock, retries, approval) ends when this sleep rejects. */
  readonly sleep?: (seconds: number) => Promise<void>;
}

export async function ensureEnrolled(config: AgentConfig, layout: StateLayout, log: Logger, options: BringUpOptions): Promise<Enrolled> {
  const sleep = options.sleep;
  const floor = await currentClockFloor(layout.clockFile);
  if (
    !(await waitForClock({
      floor,
      maxWaitSeconds: config.clockWaitSeconds,
      log,
      ...(sleep ? { sleep: (ms: number) => sleep(ms / 1000) } : {}),
    }))
  ) {
    log.warn('the clock still looks wrong; going on, but TLS may fail with "not yet valid"', { event: 'clock_still_wrong' });
  }
  // Another board's credentials (a cloned card) are set aside before anything reads them.
  const identity = await resolveIdentity(config.identityRoot, config.idTemplate, layout);
  const binding = await keepCredentialsToThisBoard(layout, identity, log, new Date());
  const store = new CredentialStore(layout, log);
  const live = await store.live();
  const known = await readBrokerInfo(layout.brokerInfo);
  // An expired certificate is still this device's identity: renewal (inside the server's grace
  // window) or its fallback to the bootstrap token takes it from here, not a blind re-enrollment.
  if (live) {
    const deviceId = describeCertificate(live.certificate).subjectCommonName ?? '';
    await moveLeftoverToken(config.bootstrapFiles, layout, log);
    const found = known ? undefined : await findToken(layout, config.bootstrapFiles);
    const endpoints = known
      ? withExplicitEndpoints(endpointsFromInfo(known), config)
      : await resolveEndpoints(config, found?.bootstrap.enrollUrl, log);
    await writeBrokerInfo(layout.brokerInfo, deviceId, endpoints, layout.live);
    log.info('already enrolled', {
      deviceId,
      serial: describeCertificate(live.certificate).serialNumber,
      notAfter: live.certificate.notAfter,
    });
    if (live.certificate.notAfter <= new Date())
      log.warn('the certificate has expired; renewing it now', { deviceId, notAfter: live.certificate.notAfter });
    return { deviceId, live, endpoints, enrolledNow: false };
  }

  const found = await findToken(layout, config.bootstrapFiles);
  if (!found) {
    const moved = (await readBootstrapFiles(config.bootstrapFiles)).find(({ file }) => 'tokenMovedTo' in file);
    const why = moved
      ? `${moved.path} holds no token: it was moved to ${layout.bootstrapCopy}, which is gone`
      : `no bootstrap file in ${config.bootstrapFiles.join(', ')}`;
    throw new FleetcertError('bootstrap_missing', why, {
      hint: 'copy the fleetcert.json made by "fleetcert token create --out" onto the boot partition',
    });
  }
  log.info('bootstrap file found', { path: found.path, location: found.location, caFingerprint: found.bootstrap.caFingerprint });
  log.info('device identity', { deviceId: identity.deviceId, model: identity.model, serialSource: identity.serialSource });
  // Recorded before the first request: a key or certificate on disk always names its board.
  if (binding !== 'own') await recordBinding(layout, hardwareFacts(identity));
  const endpoints = await resolveEndpoints(config, found.bootstrap.enrollUrl, log);
  const enrolled = await enrollDevice({
    bootstrap: found.bootstrap,
    endpoint: endpoints.enroll,
    deviceId: identity.deviceId,
    metadata: deviceMetadata(identity, await systemFacts()),
    keyType: config.keyType,
    store,
    pinFile: layout.pinnedCa,
    hooksDir: config.hooksDir,
    log,
    giveUpOnOperator: options.giveUpOnOperator,
    ...(options.deadlineSeconds === undefined ? {} : { deadlineSeconds: options.deadlineSeconds }),
    ...(sleep ? { sleep } : {}),
  });
  await writeBrokerInfo(layout.brokerInfo, identity.deviceId, endpoints, layout.live);
  // TLS to the server worked and the new certificate verified: the clock is right now.
  await new SavedClock(layout.clockFile, log).save(new Date());
  await moveTokenOffBoot(found, layout, log);
  return { deviceId: identity.deviceId, live: enrolled, endpoints, enrolledNow: true };
}
