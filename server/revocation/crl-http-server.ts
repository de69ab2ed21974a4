/**
 * The CRL distribution point: the latest CRL from the registry over plain HTTP (RFC 5280 §4.2.1.13
 * expects http; a CRL is signed, so it needs no TLS, and a TLS fetch of a CRL could itself need a
 * revocation check). Any instance serves the same CRL: the one the registry holds, whichever
 * server published it. Caching: ETag is the CRL number, Last-Modified its thisUpdate, and
 * max-age never reaches past nextUpdate, so a broker or proxy never keeps an expired CRL.
 * Only GET/HEAD of the one path; every other request is refused without reading a body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../shared/log/logger.js';
import type { Registry } from '../registry/registry.js';
import { listen } from '../../shared/net/listen.js';

/** The path of the issuing CA's CRL on the distribution-point listener. */
export const CRL_HTTP_PATH = '/crl/issuing-ca.crl';
/** Re-read the registry at most this often per instance; clients may cache up to this long too. */
const MAX_AGE_SECONDS = 60;
/** A CRL request is a few hundred bytes each way: a client gets this long for its headers, and this long for the whole connection. */
const DEFAULT_TIMEOUTS = { headersMs: 5_000, requestMs: 10_000 };

export interface CrlHttpServerOptions {
  readonly registry: Registry;
  readonly log: Logger;
  readonly now?: () => Date;
  /** Default 5 s for the headers, 10 s for a request (and for a whole connection handed over by `accept`). */
  readonly timeouts?: { readonly headersMs: number; readonly requestMs: number };
}

export class CrlHttpServer {
  private server: Server | undefined;
  private listening = false;
  private stopped = false;

  constructor(private readonly options: CrlHttpServerOptions) {}

  /** Listens on a port of its own (serve --crl-listen). */
  async start(host: string, port: number): Promise<AddressInfo> {
    const address = await listen(this.httpServer(), port, host);
    this.listening = true;
    return address;
  }

  /**
   * Serves a connection accepted elsewhere (the EST port's plain-HTTP connections, first-byte-router.ts).
   * node:http enforces its header and request timeouts only on a server that listens itself, so such a
   * connection gets a deadline of its own: a slow or silent client is cut off as the listener would.
   */
  accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const deadline = setTimeout(() => socket.destroy(), this.timeouts().requestMs);
    socket.once('close', () => clearTimeout(deadline));
    this.httpServer().emit('connection', socket);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    if (this.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.listening = false;
  }

  private httpServer(): Server {
    if (this.server) return this.server;
    const { headersMs, requestMs } = this.timeouts();
    const server = createServer({ requestTimeout: requestMs, headersTimeout: headersMs }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.options.log.error('CRL request failed', { event: 'crl_http_failed', err });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    server.maxHeadersCount = 50;
    // A keep-alive connection that stays idle this long is closed (the connection sweep needs a listener; this does not).
    server.timeout = headersMs;
    this.server = server;
    return server;
  }

  private timeouts(): { headersMs: number; requestMs: number } {
    return this.options.timeouts ?? DEFAULT_TIMEOUTS;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
    if (path !== CRL_HTTP_PATH) return plain(res, 404, 'not found');
    const crl = await this.options.registry.latestCrl();
    if (!crl) return plain(res, 503, 'no CRL published yet', { 'retry-after': '60' });
    const now = this.options.now?.() ?? new Date();
    const untilNext = Math.floor((crl.nextUpdate.getTime() - now.getTime()) / 1000);
    const etag = `"${crl.crlNumber}"`;
    const headers = {
      etag,
      'last-modified': crl.thisUpdate.toUTCString(),
      'cache-control': `public, max-age=${Math.max(0, Math.min(MAX_AGE_SECONDS, untilNext))}`,
      expires: crl.nextUpdate.toUTCString(),
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': 'application/pkix-crl', 'content-length': String(crl.der.length) });
    res.end(req.method === 'HEAD' ? undefined : crl.der);
  }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(text + '\n');
}
