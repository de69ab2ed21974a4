/**
 * Looks for the broker again when it cannot be reached (device-connection.ts calls after
 * repeated failed attempts): one bounded mDNS browse, only for endpoints that were discovered
 * in the first place (an explicit --broker or enrollment URL stays as configured). Resolving the
 * same name again already follows an address change; this finds a broker that now answers under
 * another name or port (a replaced server). Logged with `event` fields either way.
 */
import type { Logger } from '../../shared/log/logger.js';
import { discoverBroker } from './discover-broker.js';
import { discoveredEndpoints, type Endpoints } from './endpoints.js';

/** The new endpoints, or undefined when there is nothing to change (or nothing answered). */
export async function rediscoverEndpoints(current: Endpoints, timeoutSeconds: number, log: Logger): Promise<Endpoints | undefined> {
  if (current.source !== 'mdns') return undefined;
  let next: Endpoints;
  try {
    next = discoveredEndpoints(await discoverBroker({ timeoutSeconds, attempts: 1, log }));
  } catch (err) {
    log.warn('the broker cannot be reached and did not answer on mDNS; trying its last name again', {
      event: 'broker_rediscovery_failed',
      host: current.broker.host,
      err,
    });
    return undefined;
  }
  const changed =
    next.broker.host !== current.broker.host || next.broker.port !== current.broker.port || next.enroll.url !== current.enroll.url;
  log.info(changed ? 'the broker answers elsewhere now; following it' : 'the broker still answers under its name', {
    event: 'broker_rediscovered',
    changed,
    broker: `${next.broker.host}:${next.broker.port}`,
    enroll: next.enroll.url,
    ...(changed ? { previous: `${current.broker.host}:${current.broker.port}` } : {}),
  });
  return changed ? next : undefined;
}
