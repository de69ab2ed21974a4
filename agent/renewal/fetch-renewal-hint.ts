/**
 * Asks the enrollment server for the live certificate's renewal info, over mutual TLS with that
 * certificate (read from disk now, never cached). Best effort: when the server cannot be
 * reached or says no, the default window applies, and the renewal attempt itself will report
 * anything that matters.
 */
import type { Logger } from '../../shared/log/logger.js';
import { renewalInfoWindow } from '../../shared/protocol/renewal-info.js';
import { readCredentialPems, type CredentialStore } from '../credentials/credential-store.js';
import { EstClient, type EstEndpoint } from '../enrollment/est-client.js';
import type { RenewalHint } from './renewal-scheduler.js';

export async function fetchRenewalHint(store: CredentialStore, endpoint: EstEndpoint, log: Logger): Promise<RenewalHint | undefined> {
  const live = await store.live();
  if (!live) return undefined;
  try {
    const pems = await readCredentialPems(live.files);
    const outcome = await new EstClient(endpoint, pems.caPem, log).renewalInfo(pems);
    if (outcome.kind === 'refused') {
      log.info('no renewal info from the server; using the default window', { code: outcome.code });
      return undefined;
    }
    log.debug(
      () => 'renewal info',
      () => ({ ...outcome.info, retryAfterSeconds: outcome.retryAfterSeconds }),
    );
    return {
      serial: outcome.info.serial,
      window: renewalInfoWindow(outcome.info),
      reason: outcome.info.reason,
      retryAfterSeconds: outcome.retryAfterSeconds,
    };
  } catch (err) {
    log.info('could not get renewal info; using the default window', { err });
    return undefined;
  }
}
