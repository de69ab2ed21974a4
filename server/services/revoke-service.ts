/**
 * Revoking a service, in the order devices are revoked (revocation/revoke-device.ts): the registry
 * (the service and its unexpired certificates), its ACL block removed, a new CRL, the broker
 * reloaded (new connections meet both), then its live session taken over so its reconnect does too.
 */
import type { Logger } from '../../shared/log/logger.js';
import { FleetcertError } from '../../shared/errors.js';
import type { RevocationReason } from '../../shared/pki/crl.js';
import type { Authority } from '../authority/authority.js';
import type { BrokerLink } from '../config/broker-settings.js';
import { writeBrokerAcl } from '../mosquitto/write-broker-acl.js';
import type { Registry } from '../registry/registry.js';
import { endLiveSession, type RevokeOutcome } from '../revocation/revoke-device.js';
import { publishAndReload } from '../revocation/publish-crl.js';
import { serviceCommonName } from './service-identity.js';

export interface RevokeServiceParams {
  readonly registry: Registry;
  readonly name: string;
  readonly reason: RevocationReason;
  readonly now: Date;
  readonly source: string;
  readonly authority: Authority | undefined;
  readonly broker: BrokerLink | undefined;
  readonly log: Logger;
}

export async function revokeService(p: RevokeServiceParams): Promise<RevokeOutcome> {
  const serials = await p.registry.revokeService(p.name, p.reason, p.now, p.source);
  if (serials === undefined) throw new FleetcertError('usage', `no service "${p.name}"`, { hint: 'see "fleetcert service list"' });
  p.log.info('service revoked in the registry', { event: 'service_revoked', service: p.name, serials, reason: p.reason });
  if (!p.broker) return { serials, crl: undefined, reload: undefined, sessionEnded: false };
  if (!p.authority) throw new FleetcertError('internal', 'a configured broker needs the CA to sign its CRL');
  await writeBrokerAcl(p.registry, p.broker.settings);
  const { reload, ...crl } = await publishAndReload(p.registry, p.authority, p.broker, p.now);
  await endLiveSession(p.broker, reload, serviceCommonName(p.name));
  return { serials, crl, reload, sessionEnded: true };
}
