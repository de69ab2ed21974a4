/**
 * One root error with a stable code. The `message` is for logs and operators (it may name
 * files and reasons, never secrets); `publicMessage` is all a network peer ever sees.
 * Each code carries how it crosses each boundary: its exit class (every code has one, or this
 * table does not compile) and, for codes the server sends to a peer, its HTTP status. A code
 * without a status never reaches a peer as itself: the EST layer answers 500 `internal`.
 */

/** How a failure ends a command (shared/cli/exit-codes.ts turns the class into the number). */
export type ExitClass = 'failure' | 'usage' | 'invalidInput' | 'conflict' | 'notReady' | 'refused';

interface CodeInfo {
  /** HTTP status when the code is sent to a peer; absent for local-only failures. */
  readonly status?: number;
  /** What a peer may be told. */
  readonly publicMessage: string;
  readonly exit: ExitClass;
}

export const ERROR_CODES = {
  // Input from the network (CSRs, PKCS#7, certificates).
  csr_invalid: { status: 400, publicMessage: 'the request is not a well-formed PKCS#10 CSR', exit: 'invalidInput' },
  csr_signature_invalid: { status: 400, publicMessage: 'the CSR signature does not verify', exit: 'invalidInput' },
  key_too_weak: { status: 400, publicMessage: 'the key is too weak (minimum: RSA 2048 or EC P-256)', exit: 'invalidInput' },
  key_unsupported: {
    status: 400,
    publicMessage: 'the key type is not supported (use EC P-256, P-384 or RSA 2048-4096)',
    exit: 'invalidInput',
  },
  pkcs7_invalid: { publicMessage: 'the PKCS#7 structure is not a certs-only bundle', exit: 'invalidInput' },
  certificate_invalid: { status: 400, publicMessage: 'the certificate could not be parsed', exit: 'invalidInput' },
  chain_invalid: { status: 403, publicMessage: 'the certificate does not chain to a trusted CA', exit: 'invalidInput' },
  cert_expired: { status: 403, publicMessage: 'the certificate has expired', exit: 'invalidInput' },
  cert_not_yet_valid: { status: 403, publicMessage: 'the certificate is not yet valid (check the clock)', exit: 'invalidInput' },
  crl_invalid: { publicMessage: 'the CRL is malformed or not signed by its issuer', exit: 'invalidInput' },
  // Enrollment: authentication and policy.
  token_invalid: { status: 401, publicMessage: 'the bootstrap token is missing, malformed or unknown', exit: 'invalidInput' },
  token_expired: { status: 401, publicMessage: 'the bootstrap token has expired; ask the operator for a new one', exit: 'invalidInput' },
  token_revoked: {
    status: 401,
    publicMessage: 'the bootstrap token has been revoked; ask the operator for a new one',
    exit: 'invalidInput',
  },
  token_exhausted: { status: 403, publicMessage: 'the bootstrap token has no enrollments left', exit: 'invalidInput' },
  id_invalid: {
    status: 400,
    publicMessage: 'the device id (CSR common name) must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}',
    exit: 'invalidInput',
  },
  id_reserved: { status: 400, publicMessage: 'the device id is a reserved name', exit: 'invalidInput' },
  id_not_allowed: { status: 403, publicMessage: "the device id is outside this token's allowed pattern", exit: 'invalidInput' },
  id_taken: {
    status: 409,
    publicMessage: 'this device id is already enrolled with another key; the operator can run "fleetcert device reset <id>"',
    exit: 'invalidInput',
  },
  id_pending: {
    status: 409,
    publicMessage:
      'this device id is waiting for approval of another key; ' +
      'if this board was re-flashed, the operator can run "fleetcert device reset <id>"',
    exit: 'invalidInput',
  },
  device_revoked: { status: 403, publicMessage: 'this device has been revoked', exit: 'invalidInput' },
  device_not_found: { status: 404, publicMessage: 'no such device', exit: 'notReady' },
  pending_approval: { status: 202, publicMessage: 'enrollment is waiting for operator approval; retry later', exit: 'invalidInput' },
  client_certificate_required: {
    status: 401,
    publicMessage: "this endpoint needs the device's current certificate (mutual TLS)",
    exit: 'invalidInput',
  },
  subject_mismatch: { status: 403, publicMessage: 'the CSR subject must equal the current certificate subject', exit: 'invalidInput' },
  key_reused: { status: 400, publicMessage: 'renewal needs a new key; the CSR reuses the current one', exit: 'invalidInput' },
  certificate_not_current: { status: 403, publicMessage: "the certificate is not the device's current certificate", exit: 'invalidInput' },
  rate_limited: { status: 429, publicMessage: 'too many failed attempts from this address; retry later', exit: 'invalidInput' },
  metadata_invalid: { status: 400, publicMessage: 'the device metadata header is malformed', exit: 'invalidInput' },
  registry_conflict: { status: 503, publicMessage: "the device's record changed while this request was decided; retry", exit: 'conflict' },
  server_busy: {
    status: 503,
    publicMessage: 'the server has as many enrollments in progress as it takes; retry after Retry-After',
    exit: 'notReady',
  },
  // HTTP framing.
  payload_too_large: { status: 413, publicMessage: 'the request body is too large', exit: 'invalidInput' },
  unsupported_media_type: { status: 415, publicMessage: 'the request body must be application/pkcs10 (base64 DER)', exit: 'invalidInput' },
  request_timeout: { status: 408, publicMessage: 'the request took too long', exit: 'invalidInput' },
  not_found: { status: 404, publicMessage: 'no such endpoint', exit: 'invalidInput' },
  method_not_allowed: { status: 405, publicMessage: 'method not allowed on this endpoint', exit: 'invalidInput' },
  // Local files and configuration.
  pem_invalid: { publicMessage: 'the PEM data is malformed', exit: 'invalidInput' },
  key_decrypt_failed: { publicMessage: 'the private key could not be decrypted', exit: 'invalidInput' },
  passphrase_missing: { publicMessage: 'no CA passphrase was given', exit: 'invalidInput' },
  pending_key_mismatch: { publicMessage: 'the key waiting for approval is not the one given', exit: 'conflict' },
  device_not_pending: { publicMessage: 'the device is not waiting for approval', exit: 'conflict' },
  ca_exists: { publicMessage: 'a CA already exists', exit: 'conflict' },
  file_exists: { publicMessage: 'the file already exists', exit: 'conflict' },
  ca_missing: { publicMessage: 'no CA has been initialised', exit: 'notReady' },
  token_not_found: { publicMessage: 'no such token', exit: 'notReady' },
  config_invalid: { publicMessage: 'invalid configuration', exit: 'invalidInput' },
  not_enrolled: { publicMessage: 'this device is not enrolled', exit: 'notReady' },
  credentials_foreign: { publicMessage: 'the credentials belong to another board (a cloned card)', exit: 'invalidInput' },
  credentials_corrupt: { publicMessage: "the device's key or certificate files are corrupt", exit: 'invalidInput' },
  broker_reload_failed: { publicMessage: 'the broker could not be reloaded', exit: 'failure' },
  broker_admin_failed: { publicMessage: "the broker's admin listener could not be reached", exit: 'failure' },
  broker_not_configured: { publicMessage: 'no broker has been configured', exit: 'notReady' },
  local_broker_failed: { publicMessage: "the device's local Mosquitto (local broker mode) could not start", exit: 'failure' },
  database_not_empty: { publicMessage: 'the target database already holds a registry', exit: 'conflict' },
  crl_fetch_failed: { publicMessage: 'the CRL could not be fetched from its distribution point', exit: 'failure' },
  bootstrap_missing: { publicMessage: 'no bootstrap file was found', exit: 'notReady' },
  bootstrap_invalid: { publicMessage: 'the bootstrap file is invalid', exit: 'invalidInput' },
  ca_pin_mismatch: { publicMessage: "the server's CA does not match the pinned fingerprint", exit: 'refused' },
  discovery_failed: { publicMessage: 'no broker was found on the local network', exit: 'notReady' },
  enrollment_refused: { publicMessage: 'the enrollment server refused this device', exit: 'refused' },
  server_unreachable: { publicMessage: 'the enrollment server could not be reached', exit: 'notReady' },
  response_invalid: { publicMessage: 'the enrollment server sent a malformed answer', exit: 'notReady' },
  issued_certificate_invalid: { publicMessage: 'the issued certificate failed verification', exit: 'invalidInput' },
  clock_not_set: { publicMessage: 'the system clock is not set', exit: 'notReady' },
  renewal_in_progress: { publicMessage: 'another renewal is running', exit: 'conflict' },
  renewal_unproven: {
    publicMessage: 'the renewed certificate has not connected to the broker yet; the previous one stays in use',
    exit: 'notReady',
  },
  not_delivered: { publicMessage: 'the message is queued but the broker has not acknowledged it yet', exit: 'notReady' },
  interrupted: { publicMessage: 'stopped by a signal', exit: 'invalidInput' },
  // Board images (fleetcert image bake).
  image_invalid: { publicMessage: 'the file is not a raw disk image that can be baked', exit: 'invalidInput' },
  image_layout_unknown: { publicMessage: 'the image is neither Raspberry Pi OS- nor Armbian-shaped', exit: 'invalidInput' },
  image_too_full: { publicMessage: 'the image has too little free space for the agent', exit: 'invalidInput' },
  image_tool_failed: { publicMessage: 'a disk-image tool (sfdisk, mtools, debugfs) failed', exit: 'failure' },
  node_runtime_invalid: { publicMessage: 'no usable Node.js runtime for the image', exit: 'invalidInput' },
  usage: { publicMessage: 'invalid command-line usage', exit: 'usage' },
  internal: { status: 500, publicMessage: 'internal error', exit: 'failure' },
  registry_corrupt: { status: 500, publicMessage: 'internal error', exit: 'failure' },
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

  /**
   * The code scripts see in a command's `--json` error: this error's own, unless a subclass knows a
   * more precise one (a refusal's wire code, e.g. `id_taken`, while the exit class stays `refused`).
   */
  get reportedCode(): string {
    return this.code;
  }
}

export function isFleetcertError(err: unknown, code?: ErrorCode): err is FleetcertError {
  return err instanceof FleetcertError && (code === undefined || err.code === code);
}
