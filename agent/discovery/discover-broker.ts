/**
 * Finds the broker on the local network: browses mDNS for `_secure-mqtt._tcp` and accepts
 * only records with TXT `fleetcert=<enrollment port>`. Bounded: each browse waits
 * `timeoutSeconds`, a few attempts with growing pauses. Discovery only says where to go;
 * every connection after it is verified against the pinned CA.
 */
import { Bonjour, type Service } from 'bonjour-service';
import { isIP } from 'node:net';
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { MDNS_SERVICE_NAME, MDNS_SERVICE_TYPE, MDNS_TXT } from '../../shared/protocol/discovery.js';

export interface DiscoveredBroker {
  /** The advertised host name (SRV target), e.g. `pi-gw.local`: what certificates are checked against. */
  readonly host: string;
  /** An address to connect to. */
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
    options.log.info('no fleetcert broker answered on mDNS yet', { attempt, of: options.attempts });
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
      browser.stop();
      bonjour.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const browser = bonjour.find({ type: MDNS_SERVICE_TYPE }, (service: Service) => {
      const parsed = parseService(service);
      if (parsed) finish(parsed);
    });
  });
}

/** A usable record, or undefined: TXT fleetcert must be a port; an address must be known. */
export function parseService(service: Pick<Service, 'host' | 'port' | 'txt' | 'addresses' | 'referer'>): DiscoveredBroker | undefined {
  const txt = (service.txt ?? {}) as Record<string, unknown>;
  const enrollPort = Number(txt[MDNS_TXT.enrollPort]);
  if (!Number.isInteger(enrollPort) || enrollPort < 1 || enrollPort > 65535) return undefined;
  if (!Number.isInteger(service.port) || service.port < 1 || service.port > 65535) return undefined;
  const addresses = [...(service.addresses ?? [])].filter((a) => isIP(a) !== 0);
  const address = addresses.find((a) => isIP(a) === 4) ?? addresses[0] ?? service.referer?.address;
  if (!address || !service.host) return undefined;
  return { host: service.host.replace(/\.$/, ''), address, brokerPort: service.port, enrollPort };
}
