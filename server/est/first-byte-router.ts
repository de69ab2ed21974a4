/**
 * One port, two protocols: a TLS client's first byte is always 0x16 (a handshake record), an
 * HTTP/1 request line never starts with it. The router takes over a TLS server's connections,
 * peeks at that byte without consuming it (read, then unshift: the TLS socket and node:http both
 * replay what the raw socket has buffered) and hands the socket to the TLS server's own listeners
 * or to `plain`. So the EST port also serves the CRL over plain HTTP, with no second port to open.
 *
 * The router holds a socket only until its first byte: one that sends nothing is closed after
 * `firstByteTimeoutMs`, one that fails or closes first is dropped. Whoever gets the socket bounds
 * the rest (TLS handshake timeout, the plain server's own limits).
 */
import type { Server, Socket } from 'node:net';

/** The TLS record type of a handshake (RFC 8446 §5.1), the first byte of every ClientHello. */
const TLS_HANDSHAKE = 0x16;

export interface FirstByteRouterOptions {
  /** Time a connection has to send its first byte; then it is closed. */
  readonly firstByteTimeoutMs: number;
  /** Takes a connection whose first byte is not a TLS handshake (a plain HTTP server's `emit('connection')`). */
  readonly plain: (socket: Socket) => void;
}

export class FirstByteRouter {
  /** Sockets that have not sent their first byte yet: nobody else knows of them, so `closeWaiting` must. */
  private readonly waiting = new Set<Socket>();

  constructor(private readonly options: FirstByteRouterOptions) {}

  /** Moves `server`'s 'connection' listeners (a tls or https server's handshake) behind the sniff. Call before it listens. */
  install(server: Server): void {
    const tlsListeners = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const toTls = (socket: Socket): void => tlsListeners.forEach((listener) => listener.call(server, socket));
    server.on('connection', (socket: Socket) => this.sniff(socket, toTls));
  }

  /** Closes the connections still waiting for their first byte: a server's close() would otherwise wait for them. */
  closeWaiting(): void {
    for (const socket of this.waiting) socket.destroy();
    this.waiting.clear();
  }

  private sniff(socket: Socket, toTls: (socket: Socket) => void): void {
    this.waiting.add(socket);
    const timer = setTimeout(() => socket.destroy(), this.options.firstByteTimeoutMs);
    const onError = (): void => void socket.destroy();
    const onEnd = (): void => void socket.destroy();
    const release = (): void => {
      clearTimeout(timer);
      this.waiting.delete(socket);
      socket.off('readable', onReadable);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', release);
    };
    const onReadable = (): void => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return; // end of stream: 'end' follows
      release();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) toTls(socket);
      else this.options.plain(socket);
    };
    socket.on('readable', onReadable);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', release);
  }
}
