/**
 * When to renew, as pure functions of the certificate's validity, `now` and a random source
 * (smallstep's ca/renew.go, as math): at 2/3 of the lifetime (1/2 for lifetimes of 10 days or
 * less, which leaves a margin of days rather than hours), minus jitter of up to 5% of the
 * lifetime so a fleet enrolled in one hour does not renew in one minute. A window suggested by
 * the server wins: the agent picks a random moment inside it.
 */

const DAY_MS = 86_400_000;
export const JITTER_FRACTION = 0.05;

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface RenewalWindow {
  readonly start: Date;
  readonly end: Date;
}

/** The default window: [target - 5% of the lifetime, target], target = 2/3 (or 1/2) of it. */
export function defaultRenewalWindow(validity: Validity): RenewalWindow {
  const lifetime = validity.notAfter.getTime() - validity.notBefore.getTime();
  const fraction = lifetime <= 10 * DAY_MS ? 1 / 2 : 2 / 3;
  const end = validity.notBefore.getTime() + fraction * lifetime;
  return { start: new Date(end - JITTER_FRACTION * lifetime), end: new Date(end) };
}

/** The moment to renew: a random point in the server's window if given, else in the default one. */
export function renewalTime(validity: Validity, random: () => number, suggested?: RenewalWindow): Date {
  const window = suggested && suggested.end >= suggested.start ? suggested : defaultRenewalWindow(validity);
  const span = window.end.getTime() - window.start.getTime();
  return new Date(window.end.getTime() - random() * span);
}

export function isDue(now: Date, renewAt: Date): boolean {
  return now.getTime() >= renewAt.getTime();
}
