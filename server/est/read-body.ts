/**
 * Reads a request body with a hard cap and a deadline: a declared Content-Length over the cap is
 * refused before a byte is read, a stream that grows past it is cut off, a body that has not
 * arrived in full within `timeoutMs` is a 408. The request stream is never destroyed here: the
 * refusal must still reach the client on the same socket (the reply closes the connection).
 */
import type { IncomingMessage } from 'node:http';
import { FleetcertError } from '../../shared/errors.js';

export interface BodyLimits {
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/** The client closed or reset the connection before its body was complete: there is no one to answer. */
export class ClientGoneError extends Error {
  constructor(cause: unknown) {
    super('client closed the connection before the end of its body', { cause });
    this.name = 'ClientGoneError';
  }
}

export function readBoundedBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBytes) {
    const message = `declared body of ${declared.slice(0, 20)} bytes exceeds ${limits.maxBytes}`;
    return Promise.reject(new FleetcertError('payload_too_large', message));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.maxBytes) settle(new FleetcertError('payload_too_large', `body exceeds ${limits.maxBytes} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = (): void => settle(undefined);
    const onError = (err: Error): void => settle(new ClientGoneError(err));
    const onClose = (): void => settle(new ClientGoneError(undefined));
    const timer = setTimeout(() => {
      settle(new FleetcertError('request_timeout', `body incomplete after ${limits.timeoutMs} ms (${size} bytes)`));
    }, limits.timeoutMs);
    let settled = false;
    function settle(err: Error | undefined): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      // Whatever else the client sends is discarded by node:http until the reply closes the socket.
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    }
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}
