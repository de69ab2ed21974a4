/**
 * The bootstrap channel: EST (RFC 7030) over HTTPS. Paths, content types, limits and the
 * JSON error body live here once; the server serves them and the agent speaks them.
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { isWireErrorCode, wireErrorCodeSchema, type WireErrorCode } from './error-codes.js';

export const EST_PATHS = {
  cacerts: '/.well-known/est/cacerts',
  simpleEnroll: '/.well-known/est/simpleenroll',
  simpleReenroll: '/.well-known/est/simplereenroll',
} as const;

export const CONTENT_TYPES = {
  /** Request body of simpleenroll/simplereenroll: base64 DER PKCS#10 (RFC 7030 §4.2.1). */
  pkcs10: 'application/pkcs10',
  /** Response body: base64 DER PKCS#7 certs-only (RFC 7030 §4.1.3, §4.2.3). */
  pkcs7CertsOnly: 'application/pkcs7-mime; smime-type=certs-only',
  pkcs7: 'application/pkcs7-mime',
  json: 'application/json',
} as const;

/** Largest request body the server reads; a CSR is ~0.5 KiB (EC) to ~1.5 KiB (RSA-3072). */
export const MAX_EST_BODY_BYTES = 64 * 1024;

/** Realm sent with 401 so curl and other EST clients know to use Basic auth. */
export const BASIC_REALM = 'fleetcert';

/** Body of every refusal: a stable code, a message a person can act on. */
export const errorBodySchema = z.object({
  code: wireErrorCodeSchema,
  message: z.string().max(512),
  retryAfterSeconds: z.number().int().nonnegative().optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The body of a refusal. A local-only code never goes on the wire: it is sent as `internal`. */
export function errorBody(code: ErrorCode, retryAfterSeconds?: number): ErrorBody {
  const wire: WireErrorCode = isWireErrorCode(code) ? code : 'internal';
  return {
    code: wire,
    message: ERROR_CODES[wire].publicMessage,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
}

/** Base64 with optional line breaks (RFC 7030 bodies are often wrapped at 64 or 76). */
export function decodeBase64Body(text: string): Uint8Array | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/**
 * The CSR of an enrollment body: base64 DER (RFC 7030 §4.2.1), line-wrapped or not, or a
 * PEM-wrapped CSR, since that is what `openssl req` writes. Undefined when it is neither.
 */
export function decodeCsrBody(body: Uint8Array): Uint8Array | undefined {
  const text = Buffer.from(body).toString('latin1');
  return decodeBase64Body(text.replace(/-----(BEGIN|END) (NEW )?CERTIFICATE REQUEST-----/g, ''));
}

export function encodeBase64Body(der: Uint8Array): string {
  return Buffer.from(der)
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n');
}
