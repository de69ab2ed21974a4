/**
 * Announces the broker on the local network with mDNS (bonjour-service): service
 * `_secure-mqtt._tcp` on the broker's port, host `<hostname>.local`, TXT `fleetcert=<enrollment
 * port>` and `v=1`, so a freshly flashed board finds both without configuration. Discovery
 * only says where to go; devices verify everything against their pinned CA.
 */
import { Bonjour, type Service } from 'bonjour-service';
import type { Logger } from '../../shared/log/logger.js';
import { MDNS_CONTRACT_VERSION, MDNS_PROTOCOL, MDNS_SERVICE_NAME, MDNS_SERVICE_TYPE, MDNS_TXT } from '../../shared/protocol/discovery.js';

export interface AdvertiseOptions {
  /** Instance name shown in browsers, e.g. "fleetcert broker on pi-gw". */
  readonly name: string;
  /** Host name in the SRV record, `<hostname>.local`. */
  readonly host: string;
  readonly brokerPort: number;
  readonly enrollPort: number;
  readonly log: Logger;
}

export class BrokerAdvertisement {
  private bonjour: Bonjour | undefined;
  private service: Service | undefined;

  constructor(private readonly options: AdvertiseOptions) {}

  start(): void {
    const { options } = this;
    this.bonjour = new Bonjour({}, (err: Error) => options.log.warn('mDNS problem', { err }));
    this.service = this.bonjour.publish({
      name: options.name,
      type: MDNS_SERVICE_TYPE,
      protocol: MDNS_PROTOCOL,
      port: options.brokerPort,
      host: options.host,
      txt: { [MDNS_TXT.enrollPort]: String(options.enrollPort), [MDNS_TXT.version]: MDNS_CONTRACT_VERSION },
    });
    this.service.on('error', (err: Error) => options.log.warn('mDNS advertisement problem', { err }));
    options.log.info('advertising the broker over mDNS', {
      type: MDNS_SERVICE_NAME,
      host: options.host,
      port: options.brokerPort,
      enrollPort: options.enrollPort,
    });
  }

  async stop(): Promise<void> {
    const bonjour = this.bonjour;
    this.bonjour = undefined;
    if (!bonjour) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1_000); // goodbye packets are best effort
      bonjour.unpublishAll(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    bonjour.destroy();
  }
}
