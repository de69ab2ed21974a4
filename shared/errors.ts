/**
 * One root error with a stable code. The `message` is for logs and operators (it may name
 * files and reasons, never secrets); `publicMessage` is all a network peer ever sees.
 * Codes that travel on the wire carry their HTTP status here, so the enrollment server
 * and the agent read one table.
 */

interface CodeInfo {
  /** HTTP status when the code is sent to a peer; absent for local-only failures. */
  readonly status?: number;
  /** What a peer may be told. */
  readonly publicMessage: string;
}

export const ERROR_CODES = {
  // Input from the network (CSRs, PKCS#7, certificates).
  csr_invalid: { status: 400, publicMessage: 'the request is not a well-formed PKCS#10 CSR' },
  csr_signature_invalid: { status: 400, publicMessage: 'the CSR signature does not verify' },
  key_too_weak: { status: 400, publicMessage: 'the key is too weak (minimum: RSA 2048 or EC P-256)' },
  key_unsupported: { status: 400, publicMessage: 'the key type is not supported (use EC P-256, P-384 or RSA 2048-4096)' },
  pkcs7_invalid: { publicMessage: 'the PKCS#7 structure is not a certs-only bundle' },
  certificate_invalid: { status: 400, publicMessage: 'the certificate could not be parsed' },
  chain_invalid: { status: 403, publicMessage: 'the certificate does not chain to a trusted CA' },
  cert_expired: { status: 403, publicMessage: 'the certificate has expired' },
  cert_not_yet_valid: { status: 403, publicMessage: 'the certificate is not yet valid (check the clock)' },
  crl_invalid: { publicMessage: 'the CRL is malformed or not signed by its issuer' },
  // Enrollment: authentication and policy.
  token_invalid: { status: 401, publicMessage: 'the bootstrap token is missing, malformed or unknown' },
  token_expired: { status: 401, publicMessage: 'the bootstrap token has expired; ask the operator for a new one' },
  token_revoked: { status: 401, publicMessage: 'the bootstrap token has been revoked; ask the operator for a new one' },
  token_exhausted: { status: 403, publicMessage: 'the bootstrap token has no enrollments left' },
  id_invalid: { status: 400, publicMessage: 'the device id (CSR common name) must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}' },
  id_reserved: { status: 400, publicMessage: 'the device id is a reserved name' },
  id_not_allowed: { status: 403, publicMessage: "the device id is outside this token's allowed pattern" },
  id_taken: { status: 409, publicMessage: 'this device id is already enrolled with another key; the operator can run "fleetcert device reset <id>"' },
  device_revoked: { status: 403, publicMessage: 'this device has been revoked' },
  device_not_found: { status: 404, publicMessage: 'no such device' },
  pending_approval: { status: 202, publicMessage: 'enrollment is waiting for operator approval; retry later' },
  client_certificate_required: { status: 401, publicMessage: "this endpoint needs the device's current certificate (mutual TLS)" },
  subject_mismatch: { status: 403, publicMessage: 'the CSR subject must equal the current certificate subject' },
  key_reused: { status: 400, publicMessage: 'renewal needs a new key; the CSR reuses the current one' },
  certificate_not_current: { status: 403, publicMessage: "the certificate is not the device's current certificate" },
  rate_limited: { status: 429, publicMessage: 'too many failed attempts from this address; retry later' },
  metadata_invalid: { status: 400, publicMessage: 'the device metadata header is malformed' },
  // HTTP framing.
  payload_too_large: { status: 413, publicMessage: 'the request body is too large' },
  unsupported_media_type: { status: 415, publicMessage: 'the request body must be application/pkcs10 (base64 DER)' },
  request_timeout: { status: 408, publicMessage: 'the request took too long' },
  not_found: { status: 404, publicMessage: 'no such endpoint' },
  method_not_allowed: { status: 405, publicMessage: 'method not allowed on this endpoint' },
  // Local files and configuration.
  pem_invalid: { publicMessage: 'the PEM data is malformed' },
  key_decrypt_failed: { publicMessage: 'the private key could not be decrypted' },
  passphrase_missing: { publicMessage: 'no CA passphrase was given' },
  ca_exists: { publicMessage: 'a CA already exists' },
  file_exists: { publicMessage: 'the file already exists' },
  ca_missing: { publicMessage: 'no CA has been initialised' },
  token_not_found: { publicMessage: 'no such token' },
  config_invalid: { publicMessage: 'invalid configuration' },
  not_enrolled: { publicMessage: 'this device is not enrolled' },
  credentials_corrupt: { publicMessage: "the device's key or certificate files are corrupt" },
  broker_reload_failed: { publicMessage: 'the broker could not be reloaded' },
  broker_admin_failed: { publicMessage: "the broker's admin listener could not be reached" },
  broker_not_configured: { publicMessage: 'no broker has been configured' },
  bootstrap_missing: { publicMessage: 'no bootstrap file was found' },
  bootstrap_invalid: { publicMessage: 'the bootstrap file is invalid' },
  ca_pin_mismatch: { publicMessage: "the server's CA does not match the pinned fingerprint" },
  discovery_failed: { publicMessage: 'no broker was found on the local network' },
  enrollment_refused: { publicMessage: 'the enrollment server refused this device' },
  server_unreachable: { publicMessage: 'the enrollment server could not be reached' },
  response_invalid: { publicMessage: 'the enrollment server sent a malformed answer' },
  issued_certificate_invalid: { publicMessage: 'the issued certificate failed verification' },
  clock_not_set: { publicMessage: 'the system clock is not set' },
  renewal_in_progress: { publicMessage: 'another renewal is running' },
  not_delivered: { publicMessage: 'the message is queued but the broker has not acknowledged it yet' },
  interrupted: { publicMessage: 'stopped by a signal' },
  usage: { publicMessage: 'invalid command-line usage' },
  internal: { status: 500, publicMessage: 'internal error' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FleetcertErrorOptions {
  cause?: unknown;
  /** A concrete next step for the person reading the error. */
  hint?: string;
}

export class FleetcertError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: FleetcertErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FleetcertError';
    this.code = code;
    this.hint = options.hint;
  }

  get status(): number | undefined {
    const info: CodeInfo = ERROR_CODES[this.code];
    return info.status;
  }

  get publicMessage(): string {
    return ERROR_CODES[this.code].publicMessage;
  }
}

export function isFleetcertError(err: unknown, code?: ErrorCode): err is FleetcertError {
  return err instanceof FleetcertError && (code === undefined || err.code === code);
}
