/**
 * What a person should do about each refusal from the enrollment server: one line, logged,
 * and whether retrying can help without anyone acting. The table is keyed by the wire error
 * codes (shared/protocol/error-codes.ts): a code renamed or added there fails to compile here.
 */
import { isWireErrorCode, type RefusalCode, type WireErrorCode } from '../../shared/protocol/error-codes.js';

export interface Advice {
  readonly message: string;
  /** True when only an operator can change the outcome (the agent then retries slowly). */
  readonly needsOperator: boolean;
}

const operator = (message: string): Advice => ({ message, needsOperator: true });
const retry = (code: string): Advice => ({ message: `the server refused with ${code}: retrying later`, needsOperator: false });

const ADVICE: Record<WireErrorCode, (deviceId: string, code: WireErrorCode) => Advice> = {
  token_invalid: () => operator('the bootstrap token is not known to the server: copy a current fleetcert.json onto the boot partition'),
  token_expired: () =>
    operator(
      'the bootstrap token has expired: make a new one ("fleetcert token create --out fleetcert.json") and copy it onto the boot partition',
    ),
  token_revoked: () => operator('the bootstrap token was revoked: copy a new fleetcert.json onto the boot partition'),
  token_exhausted: () => operator('the bootstrap token has no enrollments left: make a new token with more --uses'),
  id_not_allowed: (id) =>
    operator(`the device id "${id}" is outside the token's --id-pattern: use a matching id template or another token`),
  id_invalid: (id) => operator(`the device id "${id}" is not acceptable: set another id template`),
  id_reserved: (id) => operator(`the device id "${id}" is not acceptable: set another id template`),
  id_taken: (id) =>
    operator(`the id "${id}" is enrolled with another key: if this board was re-flashed, run "fleetcert device reset ${id}" on the server`),
  id_pending: (id) =>
    operator(
      `the id "${id}" waits for approval of another key: compare this board's key fingerprint with "fleetcert device list --pending"; ` +
        `if this board was re-flashed, run "fleetcert device reset ${id}" on the server`,
    ),
  device_revoked: (id) =>
    operator(`this device was revoked: an operator must run "fleetcert device reset ${id}" before it can enroll again`),
  cert_expired: (id) =>
    operator(
      `the certificate expired longer ago than the server's renewal grace window: copy a bootstrap file (fleetcert.json) ` +
        `onto the device so it can enroll again, or run "fleetcert device reset ${id}" first if its token denies re-enrollment`,
    ),
  certificate_not_current: (id) =>
    operator(
      `the server no longer takes this certificate as the device's current one (was "${id}" reset?): ` +
        'copy a bootstrap file (fleetcert.json) onto the device so it can enroll again',
    ),
  key_too_weak: () => operator('the server does not accept this key type: use keyType ec-p256'),
  key_unsupported: () => operator('the server does not accept this key type: use keyType ec-p256'),
  rate_limited: () => ({ message: 'too many failed attempts from this address: waiting as the server asks', needsOperator: false }),
  server_busy: () => ({ message: 'the server is busy enrolling other devices: waiting as it asks, plus jitter', needsOperator: false }),
  // Transient, or a bug on one side that a later attempt (or a fixed server) may not repeat.
  csr_invalid: (_, code) => retry(code),
  csr_signature_invalid: (_, code) => retry(code),
  certificate_invalid: (_, code) => retry(code),
  chain_invalid: (_, code) => retry(code),
  cert_not_yet_valid: (_, code) => retry(code),
  device_not_found: (_, code) => retry(code),
  pending_approval: (_, code) => retry(code),
  client_certificate_required: (_, code) => retry(code),
  subject_mismatch: (_, code) => retry(code),
  key_reused: (_, code) => retry(code),
  metadata_invalid: (_, code) => retry(code),
  payload_too_large: (_, code) => retry(code),
  unsupported_media_type: (_, code) => retry(code),
  request_timeout: (_, code) => retry(code),
  not_found: (_, code) => retry(code),
  method_not_allowed: (_, code) => retry(code),
  registry_conflict: (_, code) => retry(code),
  registry_corrupt: (_, code) => retry(code),
  internal: (_, code) => retry(code),
};

export function refusalAdvice(code: RefusalCode, deviceId: string): Advice {
  return isWireErrorCode(code) ? ADVICE[code](deviceId, code) : retry(code);
}
