/**
 * Is the live certificate due, by the one rule (shared/renewal/renewal-due.ts), for the commands
 * that decide once: `renew` and `needs-renewal`. The server's window is asked for when the
 * enrollment endpoint is known; without it (or when the server cannot be reached) the default
 * window applies. The jitter comes from the serial, so the answer matches the service's plan.
 */
import type { Logger } from '../../shared/log/logger.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { renewalDue, serialJitter, type RenewalDue } from '../../shared/renewal/renewal-due.js';
import type { CredentialStore, LiveCredentials } from '../credentials/credential-store.js';
import type { EstEndpoint } from '../enrollment/est-client.js';
import { fetchRenewalHint } from './fetch-renewal-hint.js';

export interface RenewalCheck extends RenewalDue {
  readonly live: LiveCredentials;
  readonly serial: string;
}

export async function checkRenewalDue(
  store: CredentialStore,
  endpoint: EstEndpoint | undefined,
  log: Logger,
  now: Date,
): Promise<RenewalCheck> {
  const live = await store.requireLive();
  const serial = describeCertificate(live.certificate).serialNumber;
  const hint = endpoint ? await fetchRenewalHint(store, endpoint, log) : undefined;
  const serverWindow = hint?.serial === serial ? hint.window : undefined;
  return { live, serial, ...renewalDue({ now, validity: live.certificate, serverWindow, random: serialJitter(serial) }) };
}
