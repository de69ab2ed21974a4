/**
 * The renewal info the server gives for one certificate, as a pure function: a window placed by
 * the certificate's serial, or the operator's "renew now" moment.
 *
 * Spreading a cohort: certificates issued in the same second (a rollout, a CA rotation) share
 * their validity, so without a hint they share their renewal window too. The server places each
 * certificate's window (WINDOW_FRACTION of the lifetime wide) at a point of the last
 * COHORT_SPREAD_FRACTION of the lifetime before the agent's default moment, chosen by a hash of
 * its serial; the agent's own jitter (from the serial too, by another hash) then picks the moment
 * inside it. Deterministic: every server instance, every request, gives a certificate the same
 * window, and a cohort of 10,000 is spread over 10% of its lifetime instead of the 5% the agent
 * would use alone (a 30-day cohort: 3 days, about 140 renewals an hour).
 */
import { createHash } from 'node:crypto';
import type { RenewalInfo } from '../../shared/protocol/renewal-info.js';
import { defaultRenewalWindow, type RenewalWindow, type Validity } from '../../shared/renewal/renewal-window.js';
import type { CertificateRecord } from '../registry/records.js';

/** How much of the lifetime, ending at the default renewal moment, a cohort is spread over. */
export const COHORT_SPREAD_FRACTION = 0.1;
/** How wide one certificate's window is; the agent picks its moment inside it. */
export const WINDOW_FRACTION = 0.01;

export function renewalHint(cert: Pick<CertificateRecord, 'serial' | 'notBefore' | 'notAfter' | 'renewFrom'>): RenewalInfo {
  if (cert.renewFrom) {
    const at = cert.renewFrom.toISOString();
    return {
      serial: cert.serial,
      suggestedWindow: { start: at, end: at },
      reason: 'operator',
      explanation: 'an operator asked for this certificate to be renewed now',
    };
  }
  const window = spreadRenewalWindow(cert, cert.serial);
  return { serial: cert.serial, suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() }, reason: 'default' };
}

/** This certificate's slice of its cohort's spread, ending no later than the agent's default moment. */
export function spreadRenewalWindow(validity: Validity, serial: string): RenewalWindow {
  const lifetime = validity.notAfter.getTime() - validity.notBefore.getTime();
  const latest = defaultRenewalWindow(validity).end.getTime();
  const end = latest - spreadPosition(serial) * (COHORT_SPREAD_FRACTION - WINDOW_FRACTION) * lifetime;
  // Whole milliseconds: the window travels as ISO text, and must read back the same.
  return { start: new Date(Math.round(end - WINDOW_FRACTION * lifetime)), end: new Date(Math.round(end)) };
}

/**
 * A fixed number in [0, 1) for a serial, independent of the agent's jitter (shared/renewal's
 * serialJitter hashes the serial alone; this hash is domain-separated), so the two add up to a
 * flat spread instead of moving together.
 */
function spreadPosition(serial: string): number {
  return createHash('sha256').update(`fleetcert renewal spread\0${serial.toLowerCase()}`).digest().readUInt32BE(0) / 2 ** 32;
}
