/**
 * The one place in `serve` that writes the broker's CRL and reloads Mosquitto. Publications
 * run one at a time, each from a fresh read of the registry: serve's own never sign against
 * each other (publish-crl.ts keeps other processes' publications from overwriting a newer one).
 *
 * Two ways in:
 * - `publishNow()`: key compromise, the refresher: after anything in flight, at once;
 * - `publishSoon()`: superseded certificates. A fleet renewing at once must not republish and
 *   reload the broker per device, so requests are batched: at most one batched publication
 *   starts per `batchMs`, and every request is covered by a publication that starts within
 *   `batchMs` of it. That is the bound docs/OPERATIONS.md states.
 */
import type { Logger } from '../../shared/log/logger.js';
import type { Authority } from '../authority/authority.js';
import type { BrokerLink } from '../config/broker-settings.js';
import type { Registry } from '../registry/registry.js';
import { publishAndReload, type CrlPublished } from './publish-crl.js';

/** Default spacing of batched publications (serve --crl-batch). */
export const DEFAULT_CRL_BATCH_SECONDS = 3;

export interface CrlPublisherOptions {
  readonly registry: Registry;
  readonly authority: Authority;
  readonly broker: BrokerLink;
  readonly log: Logger;
  readonly batchMs: number;
  readonly now?: () => Date;
}

export class CrlPublisher {
  private queue: Promise<unknown> = Promise.resolve();
  private batchTimer: NodeJS.Timeout | undefined;
  private lastBatchAt = 0;
  private stopped = false;

  constructor(private readonly options: CrlPublisherOptions) {}

  /** Publishes and reloads after any publication in flight. Throws what went wrong. */
  publishNow(why: string): Promise<CrlPublished> {
    const run = this.queue.catch(() => undefined).then(() => this.publish(why));
    this.queue = run;
    return run;
  }

  /** Asks for a publication within `batchMs`; requests arriving meanwhile share it. Never throws. */
  publishSoon(why: string): void {
    if (this.stopped || this.batchTimer) return;
    const delay = Math.max(0, this.lastBatchAt + this.options.batchMs - Date.now());
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined;
      this.lastBatchAt = Date.now();
      this.publishNow(why).catch((err: unknown) => {
        this.options.log.error('could not publish the CRL; trying again', { event: 'crl_publish_failed', err, why });
        this.publishSoon(why);
      });
    }, delay);
  }

  stop(): void {
    this.stopped = true;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
  }

  private async publish(why: string): Promise<CrlPublished> {
    const { registry, authority, broker, log } = this.options;
    const now = this.options.now?.() ?? new Date();
    const crl = await publishAndReload(registry, authority, broker, now);
    const { crlNumber, entries, nextUpdate, reload } = crl;
    log.info('CRL published', { event: 'crl_published', why, crlNumber, entries, nextUpdate, reload });
    return crl;
  }
}
