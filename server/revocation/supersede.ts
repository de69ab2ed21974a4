/**
 * What happens to a device's previous certificates when it moves to a new one:
 * - once the device PROVES its new certificate (its first status with the new serial over MQTT,
 *   or any mTLS request made with it), every older unexpired certificate is revoked with reason
 *   `superseded` (one compare-and-swap in the registry) and the CRL is republished in the next
 *   batch: the old certificate stops opening the broker within the batch interval. An unproven
 *   successor changes nothing: the device may still need to fall back to the old one;
 * - when a predecessor marked key-compromised (renew-now --key-compromise) was revoked as its
 *   successor was issued, the key is cut off at once: CRL, reload, and the live session (still
 *   on the old certificate: the device has not received the new one yet) taken over.
 * Without a broker link, the registry still records the revocations; `fleetcert crl publish`
 * (cron) puts them in the CRL.
 */
import type { Logger } from '../../shared/log/logger.js';
import type { BrokerLink } from '../config/broker-settings.js';
import type { Registry } from '../registry/registry.js';
import type { CrlPublisher } from './crl-publisher.js';
import { endLiveSession } from './revoke-device.js';

export interface SupersedeOptions {
  readonly registry: Registry;
  readonly log: Logger;
  /** Absent when serve has no broker link. */
  readonly broker?: { readonly link: BrokerLink; readonly publisher: CrlPublisher };
  readonly now?: () => Date;
}

export class Supersede {
  constructor(private readonly options: SupersedeOptions) {}

  /**
   * The device used `serial` (how: `source`). Revokes what it superseded, if `serial` is its
   * active certificate. Never throws: a proof that cannot be recorded now is recorded by the next.
   */
  async proven(deviceId: string, serial: string, source: string): Promise<void> {
    const { registry, log, broker } = this.options;
    try {
      const serials = await registry.revokeSuperseded(deviceId, serial, this.options.now?.() ?? new Date(), source);
      if (serials.length === 0) return;
      log.info('superseded certificates revoked', { event: 'superseded_revoked', deviceId, provenSerial: serial, serials, source });
      broker?.publisher.publishSoon('superseded');
    } catch (err) {
      log.error('could not revoke superseded certificates', { event: 'supersede_failed', err, deviceId, serial });
    }
  }

  /**
   * A key-compromised predecessor was revoked as its successor was issued: publish, reload and
   * end the session now, before the successor is handed out. Never throws (the successor is
   * recorded and must reach the device); what failed is logged.
   */
  async compromisedPredecessorRevoked(deviceId: string, serial: string): Promise<void> {
    const { log, broker } = this.options;
    log.info('key-compromised certificate revoked as its successor was issued', { event: 'compromised_revoked', deviceId, serial });
    if (!broker) return;
    try {
      const crl = await broker.publisher.publishNow('keyCompromise');
      await endLiveSession(broker.link, crl.reload, deviceId);
      log.info('live session ended', { event: 'session_ended', deviceId, serial });
    } catch (err) {
      log.error('could not cut the compromised key off at the broker', { event: 'compromise_cutoff_failed', err, deviceId, serial });
    }
  }
}
