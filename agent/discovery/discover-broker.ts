/**
 * Finds the broker on the local network: browses mDNS for `_secure-mqtt._tcp` and accepts
 * only records with TXT `fleetcert=<enrollment port>` and an address this board can use.
 * Bounded: each browse waits `timeoutSeconds` and asks again every 1.1 s meanwhile (one lost
 * packet must not cost the whole wait; avahi ignores a repeat within one second), a few
 * attempts with growing pauses. Discovery only says where to go; every connection after it is
 * verified against the pinned CA.
 */
import { Bonjour, type Service } from 'bonjour-service';
import { networkInterfaces } from 'node:os';
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { MDNS_SERVICE_NAME, MDNS_SERVICE_TYPE, MDNS_TXT } from '../../shared/protocol/discovery.js';
import { MDNS_REQUERY_MS } from './resolve-mdns-host.js';
import { localNetwork, usableAddresses, type LocalNetwork } from './usable-addresses.js';

export interface DiscoveredBroker {
  /** The advertised host name (SRV target), e.g. `pi-gw.local`: what certificates are checked against. */
  readonly host: string;
  /** The best address it answered with now (connections resolve `host` again each time). */
  readonly address: string;
  readonly brokerPort: number;
  readonly enrollPort: number;
}

export interface DiscoverOptions {
  readonly timeoutSeconds: number;
  readonly attempts: number;
  readonly log: Logger;
}

export async function discoverBroker(options: DiscoverOptions): Promise<DiscoveredBroker> {
  for (let attempt = 1; attempt <= options.attempts; attempt += 1) {
    const found = await browseOnce(options.timeoutSeconds * 1000);
    if (found) {
      options.log.info('broker discovered over mDNS', { event: 'broker_discovered', ...found });
      return found;
    }
    options.log.info('no fleetcert broker answered on mDNS yet', { event: 'broker_not_found', attempt, of: options.attempts });
    if (attempt < options.attempts) await new Promise((r) => setTimeout(r, Math.min(30_000, 1_000 * 2 ** attempt)));
  }
  throw new FleetcertError(
    'discovery_failed',
    `no ${MDNS_SERVICE_NAME} service with a ${MDNS_TXT.enrollPort} TXT record found on the local network`,
    {
      hint: 'is "fleetcert serve --mdns" (or the avahi service file) running on the broker host? Or set the enrollment URL and broker explicitly',
    },
  );
}

function browseOnce(timeoutMs: number): Promise<DiscoveredBroker | undefined> {
  return new Promise((resolve) => {
    const bonjour = new Bonjour();
    let done = false;
    const finish = (value: DiscoveredBroker | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(requery);
      browser.stop();
      bonjour.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const browser = bonjour.find({ type: MDNS_SERVICE_TYPE }, (service: Service) => {
      const parsed = parseService(service, localNetwork(networkInterfaces()));
      if (parsed) finish(parsed);
    });
    const requery = setInterval(() => browser.update(), MDNS_REQUERY_MS);
  });
}

/** A usable record, or undefined: TXT fleetcert must be a port; an address this board can use must be known. */
export function parseService(
  service: Pick<Service, 'host' | 'port' | 'txt' | 'addresses' | 'referer'>,
  local: LocalNetwork,
): DiscoveredBroker | undefined {
  const txt = (service.txt ?? {}) as Record<string, unknown>;
  const enrollPort = Number(txt[MDNS_TXT.enrollPort]);
  if (!Number.isInteger(enrollPort) || enrollPort < 1 || enrollPort > 65535) return undefined;
  if (!Number.isInteger(service.port) || service.port < 1 || service.port > 65535) return undefined;
  const responder = service.referer?.address;
  const advertised = [...(service.addresses ?? [])];
  // No address records at all: the responder's own address is the broker's.
  const address = usableAddresses(advertised.length > 0 ? advertised : responder ? [responder] : [], responder, local)[0];
  if (!address || !service.host) return undefined;
  return { host: service.host.replace(/\.$/, ''), address, brokerPort: service.port, enrollPort };
}
