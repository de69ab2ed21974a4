/**
 * The body of an EST enrollment request: `application/pkcs10` (RFC 7030 §4.2.1), read with
 * the size cap. Decoding and parsing belong to the enrollment service, which audits them.
 */
import type { IncomingMessage } from 'node:http';
import { FleetcertError } from '../../shared/errors.js';
import { CONTENT_TYPES } from '../../shared/protocol/est.js';
import { readBoundedBody, type BodyLimits } from './read-body.js';

export async function readCsrBody(req: IncomingMessage, limits: BodyLimits): Promise<Uint8Array> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== CONTENT_TYPES.pkcs10) {
    throw new FleetcertError('unsupported_media_type', `content type "${type.slice(0, 80)}" is not ${CONTENT_TYPES.pkcs10}`);
  }
  return readBoundedBody(req, limits);
}
