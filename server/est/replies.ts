/** What the endpoints send back: PKCS#7 certs-only, JSON (renewal info), or a JSON refusal with its status. */
import { ERROR_CODES, type ErrorCode } from '../../shared/errors.js';
import { BASIC_REALM, CONTENT_TYPES, encodeBase64Body, errorBody } from '../../shared/protocol/est.js';
import type { EnrollmentResult } from '../enrollment/enrollment-service.js';
import { encodeCertsOnly } from '../pki/certs-only-pkcs7.js';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** PKCS#7 certs-only of these DER certificates, in this order. */
export function certsOnlyReply(certs: readonly Uint8Array[]): Reply {
  return {
    status: 200,
    headers: { 'content-type': CONTENT_TYPES.pkcs7CertsOnly, 'content-transfer-encoding': 'base64' },
    body: encodeBase64Body(encodeCertsOnly(certs)),
  };
}

export function jsonReply(value: unknown, headers: Record<string, string> = {}): Reply {
  return { status: 200, headers: { 'content-type': CONTENT_TYPES.json, ...headers }, body: JSON.stringify(value) + '\n' };
}

export function errorReply(code: ErrorCode, retryAfterSeconds?: number): Reply {
  // A code without a status is a local failure: if one ever gets here, it is ours, not the client's.
  const status = (ERROR_CODES[code] as { status?: number }).status ?? 500;
  const headers: Record<string, string> = { 'content-type': CONTENT_TYPES.json };
  if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
  if (status === 401 && code.startsWith('token_')) headers['www-authenticate'] = `Basic realm="${BASIC_REALM}"`;
  return { status, headers, body: JSON.stringify(errorBody(code, retryAfterSeconds)) + '\n' };
}

/** 200 with the certificate and its issuing CA, or 202 + Retry-After while approval is pending. */
export function enrollmentReply(result: EnrollmentResult): Reply {
  if (result.kind === 'pending') {
    return errorReply('pending_approval', result.retryAfterSeconds);
  }
  return certsOnlyReply(result.chain);
}
