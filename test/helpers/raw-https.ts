/**
 * A raw HTTPS exchange for abuse tests: exact bytes on the wire (bad framing, lying lengths,
 * half-sent bodies), then whatever the server answers until it closes or `waitMs` passes.
 * node:https would refuse to send most of these requests.
 */
import { connect } from 'node:tls';

export interface RawExchange {
  /** Request bytes, written in order; a number between parts pauses that many milliseconds. */
  readonly parts: readonly (string | Uint8Array | number)[];
  /** After the parts: 'wait' for the server's answer (default) or 'abort' the connection at once. */
  readonly then?: 'wait' | 'abort';
  /** Give up waiting after this long (the connection is then destroyed); default 10 s. */
  readonly waitMs?: number;
  /** Client certificate chain and key (PEM) for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
}

export interface RawReply {
  /** Status of the first final (not 1xx) response, undefined when none arrived. */
  readonly status: number | undefined;
  /** Every byte received, as text. */
  readonly raw: string;
  /** The first response's JSON body `code`, when it has one. */
  readonly code: string | undefined;
  /** Whether the server closed the connection (false: we gave up after waitMs). */
  readonly closedByServer: boolean;
  readonly elapsedMs: number;
}

export function rawHttps(server: { port: number; rootPem: string }, exchange: RawExchange): Promise<RawReply> {
  return new Promise((resolve) => {
    const started = Date.now();
    const received: Buffer[] = [];
    let closedByServer = false;
    let settled = false;
    const socket = connect({
      host: '127.0.0.1',
      port: server.port,
      servername: 'localhost',
      ca: server.rootPem,
      ...(exchange.cert ? { cert: exchange.cert, key: exchange.key } : {}),
    });
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(received).toString('latin1');
      // Interim answers (100 Continue) come first; the status is the first final one.
      const status = [...raw.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => m[1]!).find((s) => !s.startsWith('1'));
      const code = /"code":"([a-z_]+)"/.exec(raw)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), raw, code, closedByServer, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(finish, exchange.waitMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // A server that answers and closes while we still write resets the connection: not our failure.
    socket.on('error', () => {
      closedByServer = true;
      finish();
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('close', () => {
      closedByServer = true;
      finish();
    });
    socket.once('secureConnect', () => {
      const send = async (): Promise<void> => {
        for (const part of exchange.parts) {
          if (settled) return;
          if (typeof part === 'number') await new Promise((r) => setTimeout(r, part));
          else socket.write(part);
        }
        if (exchange.then === 'abort') finish();
      };
      send().catch(finish);
    });
  });
}

/** Request head lines joined with CRLF and ended by the empty line. */
export function head(...lines: string[]): string {
  return [...lines, '', ''].join('\r\n');
}

/** A body in HTTP/1.1 chunked framing, in chunks of `size` bytes, with the closing zero chunk. */
export function chunked(body: Uint8Array | string, size = 8192): Buffer {
  const data = Buffer.from(body);
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) {
    const piece = data.subarray(i, i + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
