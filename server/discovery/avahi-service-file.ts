/**
 * `serve --avahi-service`: the avahi service file written while serve runs and removed when it
 * stops, so avahi-daemon announces the broker exactly as long as its enrollment endpoint is up
 * (avahi watches its services directory and withdraws a removed file's records with goodbyes).
 */
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';
import { avahiOwnsHost, renderAvahiService } from './avahi-service.js';

export interface AvahiServiceFileOptions {
  readonly path: string;
  readonly host: string;
  readonly brokerPort: number;
  readonly enrollPort: number;
  readonly log: Logger;
}

export class AvahiServiceFile {
  private written = false;

  constructor(private readonly options: AvahiServiceFileOptions) {}

  async start(): Promise<void> {
    const { options } = this;
    const input = { host: options.host, brokerPort: options.brokerPort, enrollPort: options.enrollPort, systemHostname: hostname() };
    await writeFileAtomic(options.path, renderAvahiService(input), { mode: 0o644 });
    this.written = true;
    options.log.info('avahi announces the broker from its service file', {
      event: 'avahi_service_written',
      path: options.path,
      host: options.host,
      port: options.brokerPort,
      enrollPort: options.enrollPort,
    });
    if (!avahiOwnsHost(input))
      options.log.warn(`avahi publishes the address of ${hostname().split('.')[0]}.local, not of ${options.host}`, {
        event: 'avahi_host_not_published',
        hint: `add "<address> ${options.host}" to /etc/avahi/hosts, or run broker-config with --host ${hostname().split('.')[0]}.local`,
      });
  }

  async stop(): Promise<void> {
    if (!this.written) return;
    this.written = false;
    await rm(this.options.path, { force: true });
  }
}
