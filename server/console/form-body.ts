/** A console form as it arrives: application/x-www-form-urlencoded, bounded in size and time. */
import type { IncomingMessage } from 'node:http';

export const MAX_FORM_BYTES = 16 * 1024;

export class FormRejected extends Error {
  constructor(
    readonly status: 400 | 408 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

export async function readForm(req: IncomingMessage, timeoutMs = 10_000): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new FormRejected(415, 'forms are application/x-www-form-urlencoded');
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_FORM_BYTES) throw new FormRejected(413, 'form too large');
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => req.destroy(new FormRejected(408, 'form took too long')), timeoutMs);
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) throw new FormRejected(413, 'form too large');
      chunks.push(chunk);
    }
  } catch (err) {
    throw err instanceof FormRejected ? err : new FormRejected(400, 'form could not be read');
  } finally {
    clearTimeout(timer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
