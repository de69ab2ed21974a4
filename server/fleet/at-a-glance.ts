/**
 * A device at a glance, as `device list` and the console show it: online or not (from its
 * retained status), and how long its certificate has left. Pure: `now` is a parameter.
 */
import type { CertificateRecord, DeviceRecord } from '../registry/records.js';

export type Presence = 'online' | 'offline' | 'never';

/** What the device's last status message said: the retained status, or its last will. */
export function presenceOf(device: DeviceRecord): Presence {
  if (device.reportedState === null) return 'never';
  return device.reportedState === 'online' || device.reportedState === 'renewing' ? 'online' : 'offline';
}

/** Seconds until the active certificate expires (negative once it has); null without an active certificate. */
export function expiresInSeconds(current: CertificateRecord | undefined, now: Date): number | null {
  if (!current || current.status !== 'active') return null;
  return Math.floor((current.notAfter.getTime() - now.getTime()) / 1000);
}

/** `12d`, `5h`, `40m`, `expired`, or `-`: the column people scan. */
export function formatExpiresIn(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds <= 0) return 'expired';
  if (seconds >= 2 * 86400) return `${Math.floor(seconds / 86400)}d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.max(1, Math.floor(seconds / 60))}m`;
}
