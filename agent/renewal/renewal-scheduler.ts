/**
 * When renewals run inside `fleetcert-agent run`: a node-cron schedule (every 15 minutes by
 * default) and once at start. Each check re-reads the live certificate, renews once it is due
 * (renewal-window.ts), and after a failure waits as the backoff says (1 min -> 10 min ->
 * 100 min -> 6 h) unless an operator asks for a renewal now. Whenever the live serial changes
 * (this renewal, or a manual `fleetcert-agent renew`), `onNewCertificate` moves the MQTT
 * connection over.
 */
import cron from 'node-cron';
import { isFleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { renewalTime, isDue, type Validity } from '../../shared/renewal/renewal-window.js';
import { backoffSeconds, type BackoffPolicy } from '../../shared/retry/backoff.js';

export interface LiveValidity extends Validity {
  readonly serial: string;
}

export interface RenewalSchedulerOptions {
  readonly cronExpression: string;
  readonly readValidity: () => Promise<LiveValidity | undefined>;
  readonly renew: () => Promise<void>;
  readonly onNewCertificate: () => Promise<void>;
  readonly backoff: BackoffPolicy;
  readonly log: Logger;
  readonly random?: () => number;
  readonly now?: () => Date;
}

export class RenewalScheduler {
  private task: cron.ScheduledTask | undefined;
  private planned: { serial: string; at: Date } | undefined;
  private seenSerial: string | undefined;
  private failures = 0;
  private nextAttemptAt: Date | undefined;
  private running = false;
  private forced = false;

  constructor(private readonly options: RenewalSchedulerOptions) {}

  start(initialSerial: string): void {
    this.seenSerial = initialSerial;
    this.task = cron.schedule(this.options.cronExpression, () => void this.check());
    void this.check();
  }

  /** An operator asked for a renewal now (MQTT command): skip the window and any backoff. */
  requestNow(reason: string): void {
    this.options.log.info('renewal requested now', { reason });
    this.forced = true;
    void this.check();
  }

  stop(): void {
    this.task?.stop();
    this.task = undefined;
  }

  /** One check; overlapping calls are dropped. */
  async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.followLiveCertificate();
      const live = await this.options.readValidity();
      if (!live) return;
      const now = this.options.now?.() ?? new Date();
      if (this.planned?.serial !== live.serial) {
        this.planned = { serial: live.serial, at: renewalTime(live, this.options.random ?? Math.random) };
        this.options.log.info('renewal planned', { serial: live.serial, renewAt: this.planned.at, notAfter: live.notAfter });
      }
      const forced = this.forced;
      if (!forced && !isDue(now, this.planned.at)) return;
      if (!forced && this.nextAttemptAt && now < this.nextAttemptAt) return;
      this.forced = false;
      try {
        await this.options.renew();
        this.failures = 0;
        this.nextAttemptAt = undefined;
      } catch (err) {
        if (isFleetcertError(err, 'renewal_in_progress')) return;
        const delay = backoffSeconds(this.failures, this.options.backoff, this.options.random);
        this.failures += 1;
        this.nextAttemptAt = new Date(now.getTime() + delay * 1000);
        this.options.log.warn(`renewal failed; next attempt in ${Math.round(delay)} s`, { err, attempt: this.failures, nextAttemptAt: this.nextAttemptAt });
      }
      await this.followLiveCertificate();
    } finally {
      this.running = false;
    }
  }

  private async followLiveCertificate(): Promise<void> {
    const live = await this.options.readValidity();
    if (!live || live.serial === this.seenSerial) return;
    this.seenSerial = live.serial;
    await this.options.onNewCertificate();
  }
}
