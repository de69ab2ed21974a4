/**
 * Capped exponential backoff with jitter, as a pure function: attempt number and a random
 * source in, delay out. Defaults: 1 min -> 10 min -> 100 min -> 6 h cap.
 */
export interface BackoffPolicy {
  readonly firstSeconds: number;
  readonly factor: number;
  readonly capSeconds: number;
  /** Fraction of the delay that is randomised (0.2: the delay is 80-100% of nominal). */
  readonly jitter: number;
}

export const RENEWAL_BACKOFF: BackoffPolicy = { firstSeconds: 60, factor: 10, capSeconds: 6 * 3600, jitter: 0.2 };

/**
 * A server's Retry-After, honoured (never earlier) and spread: up to `spread` of it added at random,
 * so devices told "2 s" together do not all come back in the same instant.
 */
export function retryAfterWithJitter(seconds: number, random: () => number = Math.random, spread = 0.5): number {
  return seconds * (1 + spread * random());
}

/** Delay before retry number `attempt` (0 for the first retry). `random` returns [0, 1). */
export function backoffSeconds(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const nominal = Math.min(policy.capSeconds, policy.firstSeconds * policy.factor ** Math.max(0, attempt));
  return nominal * (1 - policy.jitter * random());
}
