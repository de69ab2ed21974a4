/**
 * The renewal info the server gives for one certificate, as a pure function: the default
 * window (shared with the agent, so both sides agree when nothing was asked for), or the
 * operator's "renew now" moment.
 */
import type { RenewalInfo } from '../../shared/protocol/renewal-info.js';
import { defaultRenewalWindow } from '../../shared/renewal/renewal-window.js';
import type { CertificateRecord } from '../registry/records.js';

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
  const window = defaultRenewalWindow(cert);
  return { serial: cert.serial, suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() }, reason: 'default' };
}
