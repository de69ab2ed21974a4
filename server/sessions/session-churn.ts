/**
 * Notices a device whose MQTT session keeps being taken over: two boards with one identity (a
 * cloned card the agent could not tell apart, an old agent, copied key files) kick each other
 * off every few seconds, since the broker allows one session per client id. Each connection
 * publishes a retained `online` status, which serve's own subscription sees; a device that comes
 * online `threshold` times within `windowMs` is flagged, then not again for `windowMs`.
 *
 * Why the status stream, not an instance nonce in it or the broker's "already connected" line:
 * it needs no new field in the agent's status (older servers reject unknown fields, and the
 * boards most likely to fight are the ones running older agents), and serve does not read the
 * broker's log. A device whose network flaps that often is flagged too, and deserves the look.
 * Pure: time comes in as `now`; the state is this process's memory (the flag itself is audited).
 */
export interface ChurnPolicy {
  readonly windowMs: number;
  readonly threshold: number;
}

export const DEFAULT_CHURN_POLICY: ChurnPolicy = { windowMs: 60_000, threshold: 5 };

/** Bounds memory: devices tracked at once (a fleet's worth); the oldest is forgotten first. */
const MAX_TRACKED = 100_000;

export class SessionChurn {
  private readonly onlines = new Map<string, number[]>();
  private readonly flaggedAt = new Map<string, number>();

  constructor(private readonly policy: ChurnPolicy = DEFAULT_CHURN_POLICY) {}

  /** Records one `online`; when this one flags the device, the threshold it reached, else undefined. */
  online(deviceId: string, now: Date): number | undefined {
    const t = now.getTime();
    const since = t - this.policy.windowMs;
    const recent = (this.onlines.get(deviceId) ?? []).filter((at) => at > since);
    recent.push(t);
    const kept = recent.slice(-this.policy.threshold); // enough to decide, bounded per device
    this.onlines.delete(deviceId); // re-inserted last: the map stays ordered by activity
    this.onlines.set(deviceId, kept);
    if (this.onlines.size > MAX_TRACKED) this.forgetOldest();
    if (kept.length < this.policy.threshold) return undefined;
    const flagged = this.flaggedAt.get(deviceId);
    if (flagged !== undefined && flagged > since) return undefined;
    this.flaggedAt.set(deviceId, t);
    return kept.length;
  }

  private forgetOldest(): void {
    const oldest = this.onlines.keys().next().value;
    if (oldest !== undefined) {
      this.onlines.delete(oldest);
      this.flaggedAt.delete(oldest);
    }
  }
}
