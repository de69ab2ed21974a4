/**
 * Limit on failed authentication per bucket (the EST server uses one per source address and
 * token id): after `maxFailures` within `windowSeconds`, a bucket is refused with 429 until its
 * window ends. Memory is bounded: the oldest buckets are forgotten first. Pure apart from its own
 * state; `now` is a parameter.
 *
 * A per-instance throttle in this process's memory, nothing more: it slows down guessing and
 * keeps the audit log from flooding. Correctness does not depend on it (tokens are 256-bit
 * secrets, checked in constant time); several server instances, or a restart, each start with
 * their own empty limiter, and that is fine.
 */
export interface FailureLimiterOptions {
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly maxSources?: number;
}

interface Window {
  start: number;
  failures: number;
}

export class FailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly options: FailureLimiterOptions) {}

  /** Seconds until this source may try again, or undefined when it may try now. */
  retryAfter(source: string, now: Date): number | undefined {
    const window = this.windows.get(source);
    if (!window) return undefined;
    const end = window.start + this.options.windowSeconds * 1000;
    if (now.getTime() >= end) {
      this.windows.delete(source);
      return undefined;
    }
    return window.failures >= this.options.maxFailures ? Math.max(1, Math.ceil((end - now.getTime()) / 1000)) : undefined;
  }

  recordFailure(source: string, now: Date): void {
    const existing = this.windows.get(source);
    if (existing && now.getTime() < existing.start + this.options.windowSeconds * 1000) {
      existing.failures += 1;
      return;
    }
    this.windows.delete(source);
    this.windows.set(source, { start: now.getTime(), failures: 1 });
    const max = this.options.maxSources ?? 10_000;
    while (this.windows.size > max) this.windows.delete(this.windows.keys().next().value!);
  }
}
