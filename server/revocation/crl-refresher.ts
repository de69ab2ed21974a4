/**
 * Keeps the broker's CRL fresh while `serve` runs: an expired CRL makes Mosquitto refuse every
 * device. Checks at start and then periodically; republishes (and reloads the broker) once the
 * CRL is past half its validity.
 */
import type { Logger } from '../../shared/log/logger.js';
import type { BrokerLink } from '../config/broker-settings.js';
import { brokerFiles } from '../mosquitto/broker-files.js';
import type { CrlPublisher } from './crl-publisher.js';
import { crlNeedsRefresh } from './publish-crl.js';

export interface CrlRefresherOptions {
  /** serve's only CRL writer: a refresh never races a revocation's publication. */
  readonly publisher: CrlPublisher;
  readonly broker: BrokerLink;
  readonly log: Logger;
  readonly now?: () => Date;
}

export class CrlRefresher {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: CrlRefresherOptions) {}

  async start(): Promise<void> {
    await this.checkNow();
    // A quarter of the republish margin, at most hourly: a missed check or two still leaves time.
    const everyMs = Math.min(3_600_000, (this.options.broker.settings.crlValiditySeconds * 1000) / 8);
    this.timer = setInterval(() => void this.checkNow(), everyMs);
    this.timer.unref();
  }

  /** Republishes when needed. True when it did. Failures are logged, not thrown. */
  async checkNow(): Promise<boolean> {
    const { publisher, broker, log } = this.options;
    const { settings } = broker;
    const now = this.options.now?.() ?? new Date();
    const crlFile = brokerFiles(settings.outDir).crlfile;
    try {
      if (!(await crlNeedsRefresh(crlFile, now, settings.crlValiditySeconds))) return false;
      const crl = await publisher.publishNow('refresh');
      log.info('CRL republished', { event: 'crl_republished', crlNumber: crl.crlNumber, entries: crl.entries, nextUpdate: crl.nextUpdate });
      return true;
    } catch (err) {
      log.error('could not refresh the CRL: devices will be refused when it expires', { event: 'crl_refresh_failed', err, crlFile });
      return false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
