/**
 * Announces the broker on the local network with mDNS (bonjour-service): service
 * `_secure-mqtt._tcp` on the broker's port, host `<hostname>.local`, TXT `fleetcert=<enrollment
 * port>` and `v=1`, so a freshly flashed board finds both without configuration. Discovery
 * only says where to go; devices verify everything against their pinned CA.
 */
import { Bonjour, type Service } from 'bonjour-service';
import type { Logger } from '../../shared/log/logger.js';

export interface AdvertiseOptions {
  /** Instance name shown in browsers, e.g. "fleetcert broker on pi-gw". */
  readonly name: string;
  /** Host name in the SRV record, `<hostname>.local`. */
  readonly host: string;
  readonly brokerPort: number;
  readonly enrollPort: number;
  readonly log: Logger;
}

export const MDNS_SERVICE_TYPE = 'secure-mqtt';

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
      protocol: 'tcp',
      port: options.brokerPort,
      host: options.host,
      txt: { fleetcert: String(options.enrollPort), v: '1' },
    });
    this.service.on('error', (err: Error) => options.log.warn('mDNS advertisement problem', { err }));
    options.log.info('advertising the broker over mDNS', { type: `_${MDNS_SERVICE_TYPE}._tcp`, host: options.host, port: options.brokerPort, enrollPort: options.enrollPort });
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
