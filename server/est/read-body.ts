/**
 * Reads a request body with a hard cap: a declared Content-Length over the cap is refused
 * before a byte is read, a stream that grows past it is cut off.
 */
import type { IncomingMessage } from 'node:http';
import { FleetcertError } from '../../shared/errors.js';

export async function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new FleetcertError('payload_too_large', `declared body of ${declared} bytes exceeds ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new FleetcertError('payload_too_large', `body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
