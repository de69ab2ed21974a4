/**
 * The CSR of an EST enrollment request: `application/pkcs10`, base64 DER (RFC 7030 §4.2.1),
 * line-wrapped or not. A PEM-wrapped CSR is accepted too, since that is what `openssl req`
 * writes. Bounded before decoding.
 */
import type { IncomingMessage } from 'node:http';
import { FleetcertError } from '../../shared/errors.js';
import { CONTENT_TYPES, decodeBase64Body } from '../../shared/protocol/est.js';
import { readBoundedBody } from './read-body.js';

export async function readCsrBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== CONTENT_TYPES.pkcs10) {
    throw new FleetcertError('unsupported_media_type', `content type "${type.slice(0, 80)}" is not ${CONTENT_TYPES.pkcs10}`);
  }
  const text = (await readBoundedBody(req, maxBytes)).toString('latin1');
  const base64 = text.includes('-----BEGIN') ? text.replace(/-----(BEGIN|END) (NEW )?CERTIFICATE REQUEST-----/g, '') : text;
  const der = decodeBase64Body(base64);
  if (der === undefined) throw new FleetcertError('csr_invalid', 'the body is not base64');
  return der;
}
