/**
 * When renewals run inside `fleetcert-agent run`: once at start, then one timer armed for the
 * next moment anything can change (nextCheckAt): the planned renewal moment, the end of a
 * backoff, the renewal info going stale, or the next tick of the safety-net schedule (a cron
 * expression, every 15 minutes by default, which catches a wall clock that jumped or a
 * certificate replaced by hand). Renewing at the planned moment itself, not at the next shared
 * tick, is what keeps a cohort spread: with a 15-minute tick every device due in those 15
 * minutes renewed in the same second. Idle, the process sleeps (no timer below the tick).
 * Each check re-reads the live certificate, asks the server for its renewal info when the last
 * answer is stale (at start, for each new certificate, then every Retry-After), renews once it
 * is due (renewal-window.ts: the server's window wins over the default one), and after a failure
 * waits as the backoff says (1 min -> 10 min -> 100 min -> 6 h) unless an operator asks for a
 * renewal now. A refusal only an operator can fix waits OPERATOR_WAIT_SECONDS instead: slow,
 * never a hot loop. Whenever the live serial changes (this renewal, or a manual
 * `fleetcert-agent renew`), `onNewCertificate` moves the MQTT connection.
 */
import { isFleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { renewalDue, serialJitter } from '../../shared/renewal/renewal-due.js';
import { isDue, type RenewalWindow, type Validity } from '../../shared/renewal/renewal-window.js';
import { backoffSeconds, type BackoffPolicy } from '../../shared/retry/backoff.js';
import { OPERATOR_WAIT_SECONDS } from '../enrollment/enroll-device.js';
import { nextCronTime } from './next-cron-time.js';
import { RenewalInProgress } from './renewal-lock.js';
import { ServerRefused } from '../enrollment/server-refused.js';

export interface LiveValidity extends Validity {
  readonly serial: string;
}

/** The server's renewal info for the live certificate. */
export interface RenewalHint {
  readonly serial: string;
  readonly window: RenewalWindow;
  readonly reason: string;
  readonly retryAfterSeconds: number | undefined;
}

export interface RenewalSchedulerOptions {
  /** The safety-net schedule (node-cron syntax); renewals themselves run at their planned moment. */
  readonly cronExpression: string;
  readonly readValidity: () => Promise<LiveValidity | undefined>;
  /** The server's renewal info, or undefined when it cannot be had (the default window applies). */
  readonly readHint?: () => Promise<RenewalHint | undefined>;
  readonly renew: () => Promise<void>;
  readonly onNewCertificate: () => Promise<void>;
  readonly backoff: BackoffPolicy;
  readonly log: Logger;
  /** Jitter of the renewal moment and of the backoff; by default the moment's comes from the serial. */
  readonly random?: () => number;
  readonly now?: () => Date;
  /** After each check: when the next renewal attempt is due, and why the last one failed (the agent's status file). */
  readonly onChecked?: (next: { at: Date | undefined; error: { code: string; message: string } | undefined }) => void;
  /** Arms the one wake-up timer (tests observe it); setTimeout, unref'd, by default. */
  readonly setTimer?: (callback: () => void, delayMs: number) => { cancel(): void };
}

/** setTimeout's largest delay (about 24.8 days); a longer sleep is cut into pieces. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The next moment a check can change anything (pure): the earliest of the safety-net tick and
 * whichever of the planned renewal, the end of the backoff and the renewal info's freshness is
 * still ahead.
 */
export function nextCheckAt(p: {
  readonly now: Date;
  readonly tick: Date;
  readonly plannedAt?: Date | undefined;
  readonly nextAttemptAt?: Date | undefined;
  readonly hintFreshUntil?: Date | undefined;
}): Date {
  const ahead = [p.plannedAt, p.nextAttemptAt, p.hintFreshUntil].filter((t): t is Date => t !== undefined && t > p.now);
  return new Date(Math.min(p.tick.getTime(), ...ahead.map((t) => t.getTime())));
}

function unrefTimer(callback: () => void, delayMs: number): { cancel(): void } {
  const timer = setTimeout(callback, delayMs);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}

/** How long a renewal info stays fresh when the server names no Retry-After. */
const HINT_DEFAULT_TTL_SECONDS = 6 * 3600;
/** After a failed renewal-info request, ask again no sooner than this. */
const HINT_FAILED_TTL_SECONDS = 15 * 60;

export class RenewalScheduler {
  private timer: { cancel(): void } | undefined;
  /** Between start() and stop(): only then is a wake-up armed. */
  private active = false;
  private planned: { key: string; at: Date } | undefined;
  private hint: { serial: string; window: RenewalWindow | undefined; reason: string; freshUntil: Date } | undefined;
  private seenSerial: string | undefined;
  private failures = 0;
  private nextAttemptAt: Date | undefined;
  private running = false;
  private forced = false;

  constructor(private readonly options: RenewalSchedulerOptions) {}

  start(initialSerial: string): void {
    this.seenSerial = initialSerial;
    this.active = true;
    this.checkSoon();
  }

  /** An operator asked for a renewal now (MQTT command): skip the window and any backoff. */
  requestNow(reason: string): void {
    this.options.log.info('renewal requested now', { event: 'renewal_requested', reason });
    this.forced = true;
    this.checkSoon();
  }

  /** A check not waited for. check() logs its own failures and never rejects; this is the last guard. */
  private checkSoon(): void {
    this.check().catch((err: unknown) => this.options.log.error('renewal check failed', { event: 'renewal_check_failed', err }));
  }

  stop(): void {
    this.active = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Sleeps until the next moment a check can change anything (one timer; replaces the previous one). */
  private arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (!this.active) return;
    const now = this.options.now?.() ?? new Date();
    const at = nextCheckAt({
      now,
      tick: nextCronTime(this.options.cronExpression, now),
      plannedAt: this.planned?.at,
      nextAttemptAt: this.nextAttemptAt,
      hintFreshUntil: this.hint?.freshUntil,
    });
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at.getTime() - now.getTime()));
    this.timer = (this.options.setTimer ?? unrefTimer)(() => this.checkSoon(), delay);
  }

  /** One check; overlapping calls are dropped. Never rejects: a failed check is logged and the next one tries again. */
  async check(): Promise<void> {
    if (this.running) {
      this.options.log.debug('renewal check skipped: the previous check is still running', {
        event: 'renewal_skipped',
        reason: 'check_running',
      });
      return;
    }
    this.running = true;
    try {
      await this.checkOnce();
    } catch (err) {
      this.options.log.error('renewal check failed', { err });
    } finally {
      this.running = false;
      this.arm();
    }
  }

  private async checkOnce(): Promise<void> {
    await this.followLiveCertificate();
    const live = await this.options.readValidity();
    if (!live) return;
    const now = this.options.now?.() ?? new Date();
    const window = await this.serverWindow(live.serial, now);
    const key = `${live.serial}|${window?.start.toISOString()}|${window?.end.toISOString()}`;
    if (this.planned?.key !== key) {
      // The same rule and, by default, the same jitter (from the serial) as `renew` and `needs-renewal`.
      const due = renewalDue({ now, validity: live, serverWindow: window, random: this.options.random ?? serialJitter(live.serial) });
      this.planned = { key, at: due.dueFrom };
      this.options.log.info('renewal planned', {
        event: 'renewal_planned',
        serial: live.serial,
        renewAt: this.planned.at,
        notAfter: live.notAfter,
        window: window ? this.hint?.reason : 'default',
      });
    }
    const forced = this.forced;
    const planned = this.planned.at;
    const report = (error?: { code: string; message: string }) =>
      this.options.onChecked?.({ at: this.nextAttemptAt && this.nextAttemptAt > planned ? this.nextAttemptAt : planned, error });
    if (!forced && (!isDue(now, planned) || (this.nextAttemptAt && now < this.nextAttemptAt))) return report();
    this.forced = false;
    try {
      await this.options.renew();
      this.failures = 0;
      this.nextAttemptAt = undefined;
      // Renewed: the new certificate's moment is planned at the next check.
      this.options.onChecked?.({ at: undefined, error: undefined });
    } catch (err) {
      if (isFleetcertError(err, 'renewal_in_progress')) {
        // Never silent: a lock that blocked every check until expiry went unnoticed once (issue 10).
        const holder = err instanceof RenewalInProgress ? err.holder : undefined;
        this.options.log.warn('renewal due but skipped: another renewal holds the lock', {
          event: 'renewal_skipped',
          reason: 'renewal_in_progress',
          holder,
        });
        return;
      }
      const random = this.options.random ?? Math.random;
      // A refusal stands until an operator acts: ask again slowly. Anything else backs off.
      const refused = isFleetcertError(err, 'enrollment_refused');
      const delay = refused
        ? OPERATOR_WAIT_SECONDS * (1 - this.options.backoff.jitter * random())
        : backoffSeconds(this.failures, this.options.backoff, random);
      this.failures += 1;
      this.nextAttemptAt = new Date(now.getTime() + delay * 1000);
      const message = refused
        ? `renewal refused; asking again in ${Math.round(delay)} s`
        : `renewal failed; next attempt in ${Math.round(delay)} s`;
      this.options.log.warn(message, {
        event: refused ? 'renewal_refused' : 'renewal_failed',
        ...(err instanceof ServerRefused ? { code: err.refusal } : {}),
        delaySeconds: Math.round(delay),
        err,
        attempt: this.failures,
        nextAttemptAt: this.nextAttemptAt,
      });
      const code = err instanceof ServerRefused ? err.reportedCode : isFleetcertError(err) ? err.code : 'internal';
      report({ code, message: err instanceof Error ? err.message : String(err) });
    }
    await this.followLiveCertificate();
  }

  /** The server's window for this certificate, asked for again only once the last answer is stale. */
  private async serverWindow(serial: string, now: Date): Promise<RenewalWindow | undefined> {
    const readHint = this.options.readHint;
    if (!readHint) return undefined;
    if (this.hint?.serial === serial && now < this.hint.freshUntil) return this.hint.window;
    const fetched = await readHint();
    const usable = fetched?.serial === serial ? fetched : undefined;
    const ttl = usable ? (usable.retryAfterSeconds ?? HINT_DEFAULT_TTL_SECONDS) : HINT_FAILED_TTL_SECONDS;
    // A failed request keeps the window this certificate already had.
    const previous = this.hint?.serial === serial ? this.hint : undefined;
    this.hint = {
      serial,
      window: usable?.window ?? previous?.window,
      reason: usable?.reason ?? previous?.reason ?? 'default',
      freshUntil: new Date(now.getTime() + ttl * 1000),
    };
    return this.hint.window;
  }

  private async followLiveCertificate(): Promise<void> {
    const live = await this.options.readValidity();
    if (!live || live.serial === this.seenSerial) return;
    this.seenSerial = live.serial;
    await this.options.onNewCertificate();
  }
}
