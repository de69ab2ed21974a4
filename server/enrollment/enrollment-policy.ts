/**
 * Who gets a certificate, as pure functions: no I/O, `now` as a parameter. The service
 * applies the decision; the registry makes it atomic.
 *
 * Token enrollment (simpleenroll):
 * - the first enrollment of an id binds it to the enrolling key (after approval, if the token
 *   says so); an operator reset frees the id again;
 * - the same id with the same key gets its current certificate back (a retry is idempotent),
 *   or a fresh one if that certificate has expired: the key proves it is the same device;
 * - the same id with another key is refused (`id_taken`) unless the token allows re-enrollment
 *   and is the token that enrolled it: one token never takes over another token's devices;
 * - while an id waits for approval (pending) or for its approved key to collect the certificate,
 *   it is bound to the key it first presented: another key is refused (`id_pending`), whatever
 *   its token allows, and never replaces the waiting one. The operator approves that key only;
 *   a re-flashed board gets through after `fleetcert device reset <id>`.
 *
 * Re-enrollment (simplereenroll, mTLS): the presented certificate must be the device's current
 * one (or the one just superseded, when the retry is for the same new key), with the same
 * subject, for a device that is active. An expired certificate (inside the grace window the
 * service checks) counts only while it is still the device's latest: never a superseded one.
 */
import type { ErrorCode } from '../../shared/errors.js';
import { deviceIdProblem } from '../../shared/protocol/device-id.js';
import type { CertificateRecord, DeviceRecord, TokenRecord } from '../registry/records.js';
import { idMatchesPattern, tokenRefusal } from '../tokens/token-scope.js';

export type EnrollDecision =
  | { readonly kind: 'reuse'; readonly certificate: CertificateRecord }
  | { readonly kind: 'issue'; readonly countTokenUse: boolean; readonly action: 'issued' | 'reissued' | 'renewed' }
  | { readonly kind: 'pending'; readonly countTokenUse: boolean }
  | { readonly kind: 'refuse'; readonly code: ErrorCode; readonly reason: string };

export interface EnrollInput {
  readonly token: TokenRecord;
  readonly deviceId: string;
  readonly keySha256: string;
  readonly device: DeviceRecord | undefined;
  readonly current: CertificateRecord | undefined;
  readonly now: Date;
  /** The server's own names (lowercase): ids no device may take. */
  readonly serverNames?: ReadonlySet<string>;
}

const refuse = (code: ErrorCode, reason: string): EnrollDecision => ({ kind: 'refuse', code, reason });

/** The device-id checks both channels share; `serverNames` are this server's own names, lowercase. */
export function deviceIdRefusal(deviceId: string, serverNames: ReadonlySet<string> = new Set()): EnrollDecision | undefined {
  const problem = deviceIdProblem(deviceId);
  if (problem === 'invalid') return refuse('id_invalid', `device id ${JSON.stringify(deviceId.slice(0, 80))} has invalid syntax`);
  if (problem === 'reserved') return refuse('id_reserved', `device id "${deviceId}" is reserved`);
  if (serverNames.has(deviceId.toLowerCase())) return refuse('id_reserved', `device id "${deviceId}" is one of this server's own names`);
  return undefined;
}

export function decideEnrollment(input: EnrollInput): EnrollDecision {
  const { token, deviceId, keySha256, device, current, now } = input;
  const tokenProblem = tokenRefusal(token, now);
  if (tokenProblem) return refuse(tokenProblem, `token ${token.id} is ${tokenProblem === 'token_revoked' ? 'revoked' : 'expired'}`);
  const idProblem = deviceIdRefusal(deviceId, input.serverNames);
  if (idProblem) return idProblem;
  if (!idMatchesPattern(deviceId, token.idPattern)) {
    return refuse('id_not_allowed', `device id "${deviceId}" is outside token ${token.id}'s pattern ${token.idPattern}`);
  }

  const bindAnew = (): EnrollDecision =>
    token.approval === 'manual' ? { kind: 'pending', countTokenUse: true } : { kind: 'issue', countTokenUse: true, action: 'issued' };

  if (device === undefined || device.status === 'reset') return bindAnew();
  switch (device.status) {
    case 'revoked':
      return refuse('device_revoked', `device "${deviceId}" is revoked`);
    case 'pending':
    case 'approved': {
      // The operator approves the key they saw: any other key is another claimant of the id.
      if (device.pendingKeySha256 !== keySha256) {
        const waiting = device.status === 'pending' ? 'waits for approval' : 'is approved';
        const reason = `device id "${deviceId}" ${waiting} for key ${device.pendingKeySha256}; this request has key ${keySha256}`;
        return refuse('id_pending', reason);
      }
      if (device.status === 'pending') return { kind: 'pending', countTokenUse: false };
      return { kind: 'issue', countTokenUse: false, action: 'issued' };
    }
    case 'active': {
      const sameKey = current !== undefined && current.keySha256 === keySha256 && current.status === 'active';
      if (sameKey && now < current.notAfter) return { kind: 'reuse', certificate: current };
      if (sameKey) return { kind: 'issue', countTokenUse: false, action: 'reissued' };
      if (token.reenroll === 'allow' && device.tokenId === token.id) return { kind: 'issue', countTokenUse: true, action: 'reissued' };
      if (token.reenroll === 'allow') {
        return refuse(
          'id_taken',
          `device id "${deviceId}" was enrolled with token ${device.tokenId ?? '(none)'}; token ${token.id} re-enrolls only its own ids`,
        );
      }
      return refuse('id_taken', `device id "${deviceId}" is enrolled with another key (token ${token.id} does not allow re-enrollment)`);
    }
  }
}

export interface ReenrollInput {
  readonly deviceId: string;
  /** The CN of the CSR; must equal the presented certificate's. */
  readonly csrCommonName: string | undefined;
  readonly keySha256: string;
  /** The registry record of the certificate presented over mTLS, if it is ours. */
  readonly presented: CertificateRecord | undefined;
  readonly device: DeviceRecord | undefined;
  readonly current: CertificateRecord | undefined;
  /** The presented certificate is past its notAfter (and inside the server's grace window). */
  readonly presentedExpired: boolean;
}

export function decideReenrollment(input: ReenrollInput): EnrollDecision {
  const { deviceId, presented, device, current, keySha256 } = input;
  if (input.csrCommonName !== deviceId) {
    return refuse(
      'subject_mismatch',
      `CSR common name ${JSON.stringify(input.csrCommonName ?? null)} differs from the certificate's "${deviceId}"`,
    );
  }
  if (presented === undefined || device === undefined)
    return refuse('certificate_not_current', `the presented certificate of "${deviceId}" is not in the registry`);
  if (device.status === 'revoked' || presented.status === 'revoked')
    return refuse('device_revoked', `device "${deviceId}" or its certificate is revoked`);
  if (device.status !== 'active' || current === undefined)
    return refuse('certificate_not_current', `device "${deviceId}" is ${device.status}`);
  if (presented.serial === current.serial) {
    // Renewing with the same key would defeat re-keying; the agent makes a new key each time.
    return current.keySha256 === keySha256
      ? refuse('key_reused', 'renewal must use a new key')
      : { kind: 'issue', countTokenUse: false, action: 'renewed' };
  }
  // A retry whose response was lost: the presented certificate was just superseded by one for
  // this very key. Hand that one back instead of refusing and stranding the device.
  if (!input.presentedExpired && presented.status === 'superseded' && current.keySha256 === keySha256 && current.status === 'active') {
    return { kind: 'reuse', certificate: current };
  }
  return refuse('certificate_not_current', `certificate ${presented.serial} is not the current certificate of "${deviceId}"`);
}
