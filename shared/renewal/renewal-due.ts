/**
 * The one rule for "is renewal due", used by the service's schedule, `fleetcert-agent renew` and
 * `fleetcert-agent needs-renewal` (pure: now, validity, the server's window and the random
 * source are parameters). The moment is a point of the server's window when it gave one (an
 * operator's renew-now moves it), else of the default window (renewal-window.ts).
 *
 * Callers that run once (a command from cron or a systemd timer) pass `serialJitter(serial)`:
 * the same certificate then always gets the same moment, in every process, while a fleet's
 * random serials still spread their renewals across the window.
 */
import { createHash } from 'node:crypto';
import { defaultRenewalWindow, isDue, renewalTime, type RenewalWindow, type Validity } from './renewal-window.js';

export interface RenewalDueInput {
  readonly now: Date;
  readonly validity: Validity;
  /** The server's window for this certificate, if it gave one. */
  readonly serverWindow?: RenewalWindow | undefined;
  readonly random: () => number;
}

export interface RenewalDue {
  readonly due: boolean;
  /** The moment from which this certificate is due. */
  readonly dueFrom: Date;
  readonly window: RenewalWindow;
  readonly source: 'server' | 'default';
}

export function renewalDue(input: RenewalDueInput): RenewalDue {
  const server = input.serverWindow && input.serverWindow.end >= input.serverWindow.start ? input.serverWindow : undefined;
  const window = server ?? defaultRenewalWindow(input.validity);
  const dueFrom = renewalTime(input.validity, input.random, window);
  return { due: isDue(input.now, dueFrom), dueFrom, window, source: server ? 'server' : 'default' };
}

/** A fixed number in [0, 1) for a serial: jitter that every process computes alike. */
export function serialJitter(serial: string): () => number {
  const value = createHash('sha256').update(serial.toLowerCase()).digest().readUInt32BE(0) / 2 ** 32;
  return () => value;
}
