/**
 * Revocation that bites, in the order that makes it stick:
 *   1. the registry (device and every unexpired certificate revoked, audited): from here on
 *      simplereenroll refuses it;
 *   2. a new CRL, validated, swapped in atomically;
 *   3. Mosquitto reloads it (new connections now fail the TLS handshake);
 *   4. the live session is taken over from the admin listener, so the device is disconnected
 *      and its reconnect meets the new CRL.
 * Steps 2-4 need a configured broker; what did not happen is reported, never hidden.
 */
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import type { RevocationReason } from '../../shared/pki/crl.js';
import type { Authority } from '../authority/authority.js';
import type { BrokerLink } from '../config/broker-settings.js';
import { endSession } from '../mosquitto/admin-listener.js';
import type { ReloadResult } from '../mosquitto/reload-broker.js';
import type { Registry } from '../registry/registry.js';
import { publishAndReload, type CrlPublication } from './publish-crl.js';

/** Time Mosquitto needs to act on SIGHUP before the session is ended (it reloads in its loop). */
export const RELOAD_SETTLE_MS = 300;

export interface RevokeParams {
  readonly registry: Registry;
  readonly deviceId: string;
  readonly reason: RevocationReason;
  readonly now: Date;
  readonly source: string;
  /** Needed to sign the CRL when a broker is configured. */
  readonly authority: Authority | undefined;
  readonly broker: BrokerLink | undefined;
  readonly log: Logger;
}

export interface RevokeOutcome {
  readonly serials: readonly string[];
  readonly crl: CrlPublication | undefined;
  readonly reload: ReloadResult | undefined;
  readonly sessionEnded: boolean;
}

export async function revokeDevice(p: RevokeParams): Promise<RevokeOutcome> {
  const serials = await p.registry.revokeDevice(p.deviceId, p.reason, p.now, p.source);
  if (serials === undefined)
    throw new FleetcertError('device_not_found', `no device "${p.deviceId}"`, { hint: 'see "fleetcert device list"' });
  p.log.info('device revoked in the registry', { event: 'device_revoked', deviceId: p.deviceId, serials, reason: p.reason });
  if (!p.broker) return { serials, crl: undefined, reload: undefined, sessionEnded: false };
  if (!p.authority) throw new FleetcertError('internal', 'a configured broker needs the CA to sign its CRL');

  const { reload, ...crl } = await publishAndReload(p.registry, p.authority, p.broker, p.now);
  p.log.info('CRL published', { event: 'crl_published', crlNumber: crl.crlNumber, entries: crl.entries });
  await endLiveSession(p.broker, reload, p.deviceId);
  p.log.info('live session ended', { event: 'session_ended', deviceId: p.deviceId });
  return { serials, crl, reload, sessionEnded: true };
}

/**
 * Ends a device's live session once the broker has reloaded (Mosquitto acts on SIGHUP in its own
 * loop), so that its reconnect meets the new CRL: connected clients are not dropped by a reload.
 * With several brokers (broker-config --peer-admin) the session ends on each, all of them tried
 * even when one fails; a failure names the brokers it could not reach.
 */
export async function endLiveSession(broker: BrokerLink, reload: ReloadResult, deviceId: string): Promise<void> {
  if (reload !== 'not-configured') await new Promise((r) => setTimeout(r, RELOAD_SETTLE_MS));
  const password = broker.adminPassword;
  const listeners = [
    { port: broker.settings.adminPort, password },
    ...broker.settings.peers.map((p) => ({ host: p.host, port: p.adminPort, password })),
  ];
  const results = await Promise.allSettled(listeners.map((admin) => endSession(admin, deviceId)));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failed.length === 1 && listeners.length === 1) throw failed[0]!;
  if (failed.length > 0) {
    throw new FleetcertError(
      'broker_admin_failed',
      `could not end the session of "${deviceId}" on ${failed.length} of ${listeners.length} brokers: ${failed.map((e) => e.message).join('; ')}`,
      {
        cause: failed[0],
        hint: 'the device is revoked in the registry and its CRL published; end its session there by restarting that broker or retry the revoke',
      },
    );
  }
}
