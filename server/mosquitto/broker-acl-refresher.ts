/**
 * Keeps this broker's ACL in step with the shared registry while `serve` runs. `fleetcert service
 * issue|revoke` rewrites the ACL of the data directory it runs on; in a scale-out (several serve
 * instances, each with its broker, on one PostgreSQL) every other broker learns of the change here:
 * each instance re-renders its ACL from the registry's services periodically and reloads its broker
 * when the file changed. Polling, not a notification: it needs nothing beyond the registry
 * interface (SQLite has no LISTEN), costs one small query per period, and a missed change is
 * caught at the next one.
 */
import type { Logger } from '../../shared/log/logger.js';
import type { BrokerLink } from '../config/broker-settings.js';
import type { Registry } from '../registry/registry.js';
import { reloadBroker } from './reload-broker.js';
import { refreshBrokerAcl } from './write-broker-acl.js';

/** How often serve re-reads the services by default: a grant made through another instance reaches this broker within it. */
export const DEFAULT_ACL_REFRESH_SECONDS = 30;

export interface BrokerAclRefresherOptions {
  readonly registry: Registry;
  readonly broker: BrokerLink;
  readonly log: Logger;
  readonly intervalMs: number;
}

export class BrokerAclRefresher {
  private timer: NodeJS.Timeout | undefined;
  /** The check in progress: a slow registry never gets a second one stacked on it. */
  private running: Promise<boolean> | undefined;
  /** The file was rewritten but the broker not reloaded: the next check reloads even if nothing changed since. */
  private reloadOwed = false;

  constructor(private readonly options: BrokerAclRefresherOptions) {}

  async start(): Promise<void> {
    await this.checkNow();
    this.timer = setInterval(() => void this.checkNow(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Rewrites and reloads when the registry's services changed. True when it did. Failures are logged, not thrown. */
  checkNow(): Promise<boolean> {
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async check(): Promise<boolean> {
    const { registry, broker, log } = this.options;
    try {
      const changed = await refreshBrokerAcl(registry, broker.settings);
      if (!changed && !this.reloadOwed) return false;
      this.reloadOwed = true;
      const reload = await reloadBroker(broker.settings.reload);
      this.reloadOwed = false;
      log.info('broker ACL rewritten from the registry', { event: 'broker_acl_refreshed', reload });
      return true;
    } catch (err) {
      log.error('could not refresh the broker ACL from the registry', { event: 'broker_acl_refresh_failed', err });
      return false;
    }
  }
}
