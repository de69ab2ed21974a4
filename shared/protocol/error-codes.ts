/**
 * The error codes that travel on the wire, in the JSON error body of every refusal
 * (docs/PROTOCOL.md). The server sends them; the agent parses a refusal with `wireErrorCodeSchema`
 * and keys its advice table by `WireErrorCode`, so renaming or removing a code fails to compile
 * on both sides. `satisfies` ties each to the ErrorCode table in shared/errors.ts.
 */
import { z } from 'zod';
import type { ErrorCode } from '../errors.js';

export const WIRE_ERROR_CODES = [
  'csr_invalid',
  'csr_signature_invalid',
  'key_too_weak',
  'key_unsupported',
  'certificate_invalid',
  'chain_invalid',
  'cert_expired',
  'cert_not_yet_valid',
  'token_invalid',
  'token_expired',
  'token_revoked',
  'token_exhausted',
  'id_invalid',
  'id_reserved',
  'id_not_allowed',
  'id_taken',
  'id_pending',
  'device_revoked',
  'device_not_found',
  'pending_approval',
  'client_certificate_required',
  'subject_mismatch',
  'key_reused',
  'certificate_not_current',
  'rate_limited',
  'metadata_invalid',
  'payload_too_large',
  'unsupported_media_type',
  'request_timeout',
  'not_found',
  'method_not_allowed',
  'registry_conflict',
  'server_busy',
  'registry_corrupt',
  'internal',
] as const satisfies readonly ErrorCode[];

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

export const wireErrorCodeSchema = z.enum(WIRE_ERROR_CODES);

/** A refusal as the agent names it: a wire code, or `http_<status>` when the body carried none it knows (a proxy, a newer server). */
export type RefusalCode = WireErrorCode | `http_${number}`;

const WIRE = new Set<string>(WIRE_ERROR_CODES);

export function isWireErrorCode(code: string): code is WireErrorCode {
  return WIRE.has(code);
}
