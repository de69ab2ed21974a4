/**
 * The server's HTTP `Date` header against the device clock (pure). A large difference is a clock
 * problem to report (certificates will look not yet valid, or expired); it is never trust: the
 * header is unauthenticated information, and the agent's own clock is not set from it.
 */
export const CLOCK_SKEW_LIMIT_MS = 5 * 60_000;

export interface ClockSkew {
  readonly serverTime: Date;
  readonly deviceTime: Date;
  /** Positive when the device is behind the server. */
  readonly skewSeconds: number;
}

export function clockSkew(dateHeader: string | undefined, deviceTime: Date, limitMs = CLOCK_SKEW_LIMIT_MS): ClockSkew | undefined {
  // An HTTP date is about 29 characters; a longer header is not one.
  if (!dateHeader || dateHeader.length > 64) return undefined;
  const server = Date.parse(dateHeader);
  if (Number.isNaN(server)) return undefined;
  const skewMs = server - deviceTime.getTime();
  return Math.abs(skewMs) > limitMs ? { serverTime: new Date(server), deviceTime, skewSeconds: Math.round(skewMs / 1000) } : undefined;
}
