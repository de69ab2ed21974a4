/**
 * The EST endpoint over HTTPS (node:https), plus fleetcert's renewal info. Routing, limits and
 * error mapping live here; each endpoint is one thin handler. The server asks every client for a certificate but does not
 * require one: simpleenroll authenticates with the token, simplereenroll with the presented
 * certificate, which the enrollment service validates itself against the CA.
 *
 * Nothing a client sends can crash it: every request ends in a reply or a closed socket,
 * and slow clients are cut off by the handshake, header and request timeouts.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FleetcertError, isFleetcertError, type ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { parseMetadataHeader, METADATA_HEADER, type DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import { EST_PATHS, MAX_EST_BODY_BYTES } from '../../shared/protocol/est.js';
import { RENEWAL_INFO_PATH } from '../../shared/protocol/renewal-info.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import type { EnrollmentService } from '../enrollment/enrollment-service.js';
import type { FailureLimiter } from './failure-limiter.js';
import { cacerts } from './handlers/cacerts.js';
import type { HandlerContext } from './handlers/context.js';
import { simpleEnroll } from './handlers/simple-enroll.js';
import { renewalInfo } from './handlers/renewal-info.js';
import { simpleReenroll } from './handlers/simple-reenroll.js';
import { errorReply, type Reply } from './replies.js';

export interface EstServerLimits {
  readonly maxBodyBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: EstServerLimits = {
  maxBodyBytes: MAX_EST_BODY_BYTES,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

export interface EstServerOptions {
  readonly tls: { readonly certPem: string; readonly keyPem: string; readonly caPems: readonly string[] };
  readonly service: EnrollmentService;
  readonly caCertificates: readonly Certificate[];
  readonly limiter: FailureLimiter;
  readonly log: Logger;
  readonly limits?: EstServerLimits;
  /** Retry-After of renewal-info answers (default 6 h). */
  readonly renewalInfoRetrySeconds?: number;
  readonly now?: () => Date;
}

type Handler = (req: IncomingMessage, ctx: HandlerContext) => Promise<Reply>;

const ROUTES: Record<string, { method: 'GET' | 'POST'; handler: Handler; authenticated: boolean }> = {
  [EST_PATHS.cacerts]: { method: 'GET', handler: (_req, ctx) => cacerts(ctx), authenticated: false },
  [EST_PATHS.simpleEnroll]: { method: 'POST', handler: simpleEnroll, authenticated: true },
  [EST_PATHS.simpleReenroll]: { method: 'POST', handler: simpleReenroll, authenticated: true },
  [RENEWAL_INFO_PATH]: { method: 'GET', handler: renewalInfo, authenticated: true },
};

/** Refusals that count against a source's failure budget: guessing tokens or certificates. */
const AUTH_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'token_invalid',
  'token_expired',
  'token_revoked',
  'token_exhausted',
  'client_certificate_required',
  'chain_invalid',
  'cert_expired',
  'cert_not_yet_valid',
  'certificate_not_current',
]);

export class EstServer {
  private server: Server | undefined;
  private readonly limits: EstServerLimits;
  private readonly now: () => Date;

  constructor(private readonly options: EstServerOptions) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.now = options.now ?? (() => new Date());
  }

  async start(host: string, port: number): Promise<AddressInfo> {
    const { tls } = this.options;
    const server = createServer(
      {
        cert: tls.certPem,
        key: tls.keyPem,
        ca: [...tls.caPems],
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        handshakeTimeout: this.limits.handshakeTimeoutMs,
        maxHeaderSize: 16 * 1024,
        // Node enforces headersTimeout/requestTimeout only when it sweeps connections, every 30 s
        // by default: without this a slow client holds its socket far past the timeout.
        connectionsCheckingInterval: Math.min(1_000, this.limits.headersTimeoutMs),
      },
      (req, res) => void this.handle(req, res),
    );
    server.headersTimeout = this.limits.headersTimeoutMs;
    server.requestTimeout = this.limits.requestTimeoutMs;
    server.keepAliveTimeout = this.limits.keepAliveTimeoutMs;
    server.maxHeadersCount = 64;
    server.on('clientError', (err, socket) => {
      this.options.log.debug(() => `client error: ${err.message}`);
      socket.destroy();
    });
    server.on('tlsClientError', (err) => this.options.log.debug(() => `TLS handshake failed: ${err.message}`));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  async stop(graceMs = 5_000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = this.now();
    const source = req.socket.remoteAddress ?? 'unknown';
    const started = performance.now();
    let reply: Reply;
    try {
      reply = await this.route(req, now, source);
    } catch (err) {
      reply = this.replyForError(err, source, now);
    }
    const closeAfter = reply.status === 413 || reply.status === 408;
    res.writeHead(reply.status, { ...reply.headers, 'cache-control': 'no-store', ...(closeAfter ? { connection: 'close' } : {}) });
    res.end(reply.body);
    if (closeAfter) req.socket.end();
    this.options.log.debug(() => `${req.method} ${req.url} -> ${reply.status}`, () => ({ source, ms: Math.round(performance.now() - started) }));
  }

  private async route(req: IncomingMessage, now: Date, source: string): Promise<Reply> {
    const path = (req.url ?? '').split('?')[0]!;
    const route = ROUTES[path];
    if (!route) throw new FleetcertError('not_found', `no route for ${path.slice(0, 100)}`);
    if (req.method !== route.method) throw new FleetcertError('method_not_allowed', `${req.method} on ${path}`);
    if (route.authenticated) {
      const retryAfter = this.options.limiter.retryAfter(source, now);
      if (retryAfter !== undefined) return errorReply('rate_limited', retryAfter);
    }
    const ctx: HandlerContext = {
      service: this.options.service,
      caCertificates: this.options.caCertificates,
      maxBodyBytes: this.limits.maxBodyBytes,
      renewalInfoRetrySeconds: this.options.renewalInfoRetrySeconds ?? 6 * 3600,
      request: { source, now, metadata: readMetadata(req) },
      peerCertificate: peerCertificate(req),
    };
    return route.handler(req, ctx);
  }

  private replyForError(err: unknown, source: string, now: Date): Reply {
    if (isFleetcertError(err)) {
      if (AUTH_FAILURES.has(err.code)) this.options.limiter.recordFailure(source, now);
      // The status is decided here, where the error leaves the server: a code with no HTTP status
      // (a corrupt stored PEM, a broken config) is a server fault, answered 500 and blaming nobody.
      if (err.status === undefined || err.status >= 500) {
        this.options.log.error('request failed', { event: 'request_failed', code: err.code, err, source });
        return errorReply(err.status === undefined ? 'internal' : err.code);
      }
      return errorReply(err.code);
    }
    this.options.log.error('request failed unexpectedly', { event: 'request_failed', code: 'internal', err, source, stack: (err as Error)?.stack });
    return errorReply('internal');
  }
}

function readMetadata(req: IncomingMessage): DeviceMetadata | undefined {
  const value = req.headers[METADATA_HEADER];
  try {
    return parseMetadataHeader(Array.isArray(value) ? value[0] : value);
  } catch (err) {
    throw new FleetcertError('metadata_invalid', `bad ${METADATA_HEADER} header: ${(err as Error).message.slice(0, 200)}`, { cause: err });
  }
}

function peerCertificate(req: IncomingMessage): Uint8Array | undefined {
  const socket = req.socket as TLSSocket;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : undefined;
  return peer && peer.raw ? new Uint8Array(peer.raw) : undefined;
}
