/**
 * Looks for the broker again when it cannot be reached: one bounded mDNS browse after 3 failed
 * connection attempts in a row (5 s apart), then after 6, 12, 24, 48 and 96, then every 96 more
 * (about every 13 minutes), so a long outage costs a browse now and then, not every half minute.
 * Only for endpoints that were discovered in the first place (an explicit --broker or enrollment
 * URL stays as configured). Resolving the same name again already follows an address change;
 * this finds a broker that now answers under another name or port (a replaced server). Logged
 * with `event` fields either way.
 */
import type { Logger } from '../../shared/log/logger.js';
import { discoverBroker } from './discover-broker.js';
import { discoveredEndpoints, type Endpoints } from './endpoints.js';

const FIRST_REDISCOVERY_AFTER = 3;
const MAX_REDISCOVERY_EVERY = 96;

/** True when `failedAttempts` failures in a row call for a browse (pure). */
export function rediscoveryDue(failedAttempts: number): boolean {
  if (failedAttempts < FIRST_REDISCOVERY_AFTER) return false;
  if (failedAttempts >= MAX_REDISCOVERY_EVERY) return failedAttempts % MAX_REDISCOVERY_EVERY === 0;
  const ratio = failedAttempts / FIRST_REDISCOVERY_AFTER;
  return Number.isInteger(ratio) && (ratio & (ratio - 1)) === 0;
}

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
