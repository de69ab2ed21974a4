/**
 * The EST endpoint over HTTPS (node:https), plus fleetcert's renewal info. Routing, limits and
 * error mapping live here; each endpoint is one thin handler. The server asks every client for a certificate but does not
 * require one: simpleenroll authenticates with the token, simplereenroll with the presented
 * certificate, which the enrollment service validates itself against the CA.
 *
 * Nothing a client sends can crash it: every request ends in a reply or a closed socket,
 * and slow clients are cut off by the handshake, header, body and request timeouts. No promise
 * of a request floats: `respond` is the only entry, and whatever escapes `handle` is logged and
 * answered 500 there, never left to become an unhandled rejection that ends the process.
 */
import { createServer, type Server } from 'node:https';
import { clientCertHttpsOptions, type ServerTlsContext } from '../authority/server-tls.js';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FleetcertError, isFleetcertError, type ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { parseMetadataHeader, METADATA_HEADER, type DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import { EST_PATHS, MAX_EST_BODY_BYTES } from '../../shared/protocol/est.js';
import { RENEWAL_INFO_PATH } from '../../shared/protocol/renewal-info.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import type { EnrollmentService } from '../enrollment/enrollment-service.js';
import type { FailureLimiter } from './failure-limiter.js';
import { parseFleetToken } from '../tokens/fleet-token.js';
import { tokenFromAuthorization } from './basic-auth.js';
import { cacerts } from './handlers/cacerts.js';
import type { HandlerContext } from './handlers/context.js';
import { simpleEnroll } from './handlers/simple-enroll.js';
import { renewalInfo } from './handlers/renewal-info.js';
import { simpleReenroll } from './handlers/simple-reenroll.js';
import { ClientGoneError } from './read-body.js';
import { errorReply, type Reply } from './replies.js';
import { listen } from '../../shared/net/listen.js';
import { FirstByteRouter } from './first-byte-router.js';

export interface EstServerLimits {
  readonly maxBodyBytes: number;
  /** Time a client has to send its whole body once its headers are in; then 408. */
  readonly bodyTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: EstServerLimits = {
  maxBodyBytes: MAX_EST_BODY_BYTES,
  bodyTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

export interface EstServerOptions {
  readonly tls: ServerTlsContext;
  readonly service: EnrollmentService;
  readonly caCertificates: readonly Certificate[];
  readonly limiter: FailureLimiter;
  /** Whether a token id exists: failures against unknown ids share one bucket per address. */
  readonly tokenKnown: (tokenId: string) => Promise<boolean>;
  readonly log: Logger;
  readonly limits?: EstServerLimits;
  /** Retry-After of renewal-info answers (default 6 h). */
  readonly renewalInfoRetrySeconds?: number;
  /** Load shaping: enrollments (simpleenroll, simplereenroll) in progress at once; more are answered 503 server_busy. */
  readonly maxPendingEnrollments?: number;
  /** Told of each request refused for load (rate_limited, server_busy): the console's metrics count them. */
  readonly onRefusedForLoad?: (code: 'rate_limited' | 'server_busy') => void;
  /** Retry-After of a server_busy answer (default 2 s; the agent adds jitter). */
  readonly busyRetryAfterSeconds?: number;
  readonly now?: () => Date;
  /**
   * Takes the connections on this port that do not start a TLS handshake (the CRL over plain HTTP,
   * crl-http-server.ts). Without it every connection is TLS.
   */
  readonly plainConnection?: (socket: Socket) => void;
}

type Handler = (req: IncomingMessage, ctx: HandlerContext) => Promise<Reply>;

/**
 * `token`: authorised by a fleet token, so throttled per (address, token id) by the failure limiter.
 * `certificate`: authorised by a certificate that must chain to the CA; nothing to guess, so never
 * throttled (a device renewing must not be locked out by a neighbour behind the same NAT).
 */
type Authentication = 'none' | 'token' | 'certificate';

/** `issues`: the route signs and records a certificate, the expensive work load shaping bounds. */
const ROUTES: Record<string, { method: 'GET' | 'POST'; handler: Handler; authentication: Authentication; issues?: true }> = {
  [EST_PATHS.cacerts]: { method: 'GET', handler: (_req, ctx) => cacerts(ctx), authentication: 'none' },
  [EST_PATHS.simpleEnroll]: { method: 'POST', handler: simpleEnroll, authentication: 'token', issues: true },
  [EST_PATHS.simpleReenroll]: { method: 'POST', handler: simpleReenroll, authentication: 'certificate', issues: true },
  [RENEWAL_INFO_PATH]: { method: 'GET', handler: renewalInfo, authentication: 'certificate' },
};

/**
 * Sized for the project's 2-core box: at ~200 enrollments/s, 128 in progress is under a second
 * of work queued; past that a device is better told to come back than left to time out.
 */
export const DEFAULT_MAX_PENDING_ENROLLMENTS = 128;
export const DEFAULT_BUSY_RETRY_AFTER_SECONDS = 2;

/**
 * The one refusal that counts against a failure bucket: a token whose secret did not match (or
 * no token at all). Expired, revoked and used-up tokens had the right secret, and policy refusals
 * (id_taken, certificate_not_current, device_revoked...) are answers, not guesses.
 */
const GUESSING: ErrorCode = 'token_invalid';

export class EstServer {
  private server: Server | undefined;
  /** Sockets whose current request is inside `handle`, which answers it itself. */
  private readonly inHandler = new WeakSet();
  private readonly limits: EstServerLimits;
  private readonly now: () => Date;
  /** Enrollments between routing and their reply: what `maxPendingEnrollments` bounds. */
  private pendingEnrollments = 0;
  private router: FirstByteRouter | undefined;

  constructor(private readonly options: EstServerOptions) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.now = options.now ?? (() => new Date());
  }

  async start(host: string, port: number): Promise<AddressInfo> {
    const { tls } = this.options;
    const server = createServer(
      {
        ...clientCertHttpsOptions(tls, this.limits.handshakeTimeoutMs),
        // Node enforces headersTimeout/requestTimeout only when it sweeps connections, every 30 s
        // by default: without this a slow client holds its socket far past the timeout.
        connectionsCheckingInterval: Math.min(1_000, this.limits.headersTimeoutMs),
      },
      (req, res) => this.respond(req, res),
    );
    server.headersTimeout = this.limits.headersTimeoutMs;
    server.requestTimeout = this.limits.requestTimeoutMs;
    server.keepAliveTimeout = this.limits.keepAliveTimeoutMs;
    server.maxHeadersCount = 64;
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      this.options.log.debug(() => `client error: ${err.message}`);
      // A request that timed out before it reached a handler is told so, as documented; one that
      // reached a handler gets its 408 from the handler's own body deadline.
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.writable && !this.inHandler.has(socket)) {
        socket.end(rawResponse(errorReply('request_timeout')));
        // end() flushes the reply first; a client that does not read it is cut off shortly after.
        setTimeout(() => socket.destroy(), 1_000).unref();
        return;
      }
      socket.destroy();
    });
    server.on('tlsClientError', (err) => this.options.log.debug(() => `TLS handshake failed: ${err.message}`));
    const plain = this.options.plainConnection;
    if (plain) {
      // A connection that sends nothing gets as long as a TLS handshake would, then is closed.
      this.router = new FirstByteRouter({ firstByteTimeoutMs: this.limits.handshakeTimeoutMs, plain });
      this.router.install(server);
    }
    this.server = server;
    return listen(server, port, host);
  }

  /**
   * Presents a renewed certificate from the next handshake on (open connections keep theirs); the
   * CA bundle that client certificates are checked against is unchanged.
   */
  setTlsCredentials(certPem: string, keyPem: string): void {
    this.server?.setSecureContext({ cert: certPem, key: keyPem, ca: [...this.options.tls.caPems], minVersion: 'TLSv1.2' });
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  async stop(graceMs = 5_000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.router?.closeWaiting();
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  /** The request listener: the one place a request's promise is awaited, so none floats. */
  private respond(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    this.inHandler.add(socket);
    this.handle(req, res)
      .finally(() => this.inHandler.delete(socket))
      .catch((err: unknown) => this.lastResort(err, req, res));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = this.now();
    const source = req.socket.remoteAddress ?? 'unknown';
    const started = performance.now();
    let reply: Reply;
    try {
      reply = await this.route(req, now, source);
    } catch (err) {
      if (err instanceof ClientGoneError) {
        this.options.log.debug(() => `${req.method} ${req.url}: ${err.message}`, { source });
        return;
      }
      reply = this.replyForError(err, source);
    }
    // 413, 408 and a busy 503 leave an unread body behind: `connection: close` makes node:http close
    // the socket once the reply is flushed (the socket may already be detached from `req` by then).
    const closeAfter = reply.status === 413 || reply.status === 408 || reply.status === 503;
    if (res.headersSent || res.destroyed) return;
    res.writeHead(reply.status, { ...reply.headers, 'cache-control': 'no-store', ...(closeAfter ? { connection: 'close' } : {}) });
    res.end(reply.body);
    this.options.log.debug(
      () => `${req.method} ${req.url} -> ${reply.status}`,
      () => ({ source, ms: Math.round(performance.now() - started) }),
    );
  }

  /** A fault outside the error mapping (a bug): logged with its stack, answered 500 if still possible. */
  private lastResort(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    try {
      this.options.log.error('request handling failed', {
        event: 'request_failed',
        err,
        stack: err instanceof Error ? err.stack : undefined,
        method: req.method,
        path: (req.url ?? '').split('?')[0]!.slice(0, 100),
      });
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const reply = errorReply('internal');
      res.writeHead(reply.status, { ...reply.headers, 'cache-control': 'no-store', connection: 'close' });
      res.end(reply.body);
    } catch {
      res.destroy();
    }
  }

  private async route(req: IncomingMessage, now: Date, source: string): Promise<Reply> {
    const path = (req.url ?? '').split('?')[0]!;
    const route = ROUTES[path];
    if (!route) throw new FleetcertError('not_found', `no route for ${path.slice(0, 100)}`);
    if (req.method !== route.method) throw new FleetcertError('method_not_allowed', `${req.method} on ${path}`);
    if (!route.issues) return this.dispatch(req, now, source, route);
    // Load shaping, the cheapest refusal first: a saturated server says when to come back instead
    // of queueing work that would only time out. Counted until the reply is decided.
    const max = this.options.maxPendingEnrollments ?? DEFAULT_MAX_PENDING_ENROLLMENTS;
    if (this.pendingEnrollments >= max) {
      this.options.log.debug(() => `busy: ${this.pendingEnrollments} enrollments in progress`, { event: 'enrollment_busy', source });
      this.options.onRefusedForLoad?.('server_busy');
      return errorReply('server_busy', this.options.busyRetryAfterSeconds ?? DEFAULT_BUSY_RETRY_AFTER_SECONDS);
    }
    this.pendingEnrollments += 1;
    try {
      return await this.dispatch(req, now, source, route);
    } finally {
      this.pendingEnrollments -= 1;
    }
  }

  private async dispatch(req: IncomingMessage, now: Date, source: string, route: (typeof ROUTES)[string]): Promise<Reply> {
    const tokenAuth = route.authentication === 'token';
    const claimed = tokenAuth ? claimedTokenId(req.headers.authorization) : undefined;
    // Which bucket a request belongs to takes a registry read (is the token id known?). When neither
    // bucket it could belong to is refused now, it is let through whatever the answer, so the read is
    // left to the rare request that may be refused, or that fails and must be counted.
    let bucket = tokenAuth && this.mayBeLimited(source, claimed, now) ? await this.tokenBucket(source, claimed) : undefined;
    if (bucket !== undefined) {
      const retryAfter = this.options.limiter.retryAfter(bucket, now);
      if (retryAfter !== undefined) {
        this.options.onRefusedForLoad?.('rate_limited');
        return errorReply('rate_limited', retryAfter);
      }
    }
    const ctx: HandlerContext = {
      service: this.options.service,
      caCertificates: this.options.caCertificates,
      bodyLimits: { maxBytes: this.limits.maxBodyBytes, timeoutMs: this.limits.bodyTimeoutMs },
      renewalInfoRetrySeconds: this.options.renewalInfoRetrySeconds ?? 6 * 3600,
      request: { source, now, metadata: readMetadata(req) },
      peerCertificate: peerCertificate(req),
    };
    try {
      return await route.handler(req, ctx);
    } catch (err) {
      if (tokenAuth && isFleetcertError(err, GUESSING)) {
        bucket ??= await this.tokenBucket(source, claimed).catch(() => `${source} -`);
        this.options.limiter.recordFailure(bucket, now);
      }
      throw err;
    }
  }

  /** Whether either bucket this request could belong to has a failure window open. */
  private mayBeLimited(source: string, claimed: string | undefined, now: Date): boolean {
    const { limiter } = this.options;
    return (
      limiter.retryAfter(`${source} -`, now) !== undefined ||
      (claimed !== undefined && limiter.retryAfter(`${source} ${claimed}`, now) !== undefined)
    );
  }

  /** (address, token id) for a known token id; (address, "-") for a missing, malformed or unknown one. */
  private async tokenBucket(source: string, claimed: string | undefined): Promise<string> {
    const known = claimed !== undefined && (await this.options.tokenKnown(claimed));
    return `${source} ${known ? claimed : '-'}`;
  }

  private replyForError(err: unknown, source: string): Reply {
    if (isFleetcertError(err)) {
      // The status is decided here, where the error leaves the server: a code with no HTTP status
      // (a corrupt stored PEM, a broken config) is a server fault, answered 500 and blaming nobody.
      if (err.status === undefined || err.status >= 500) {
        this.options.log.error('request failed', { event: 'request_failed', code: err.code, err, source });
        return errorReply(err.status === undefined ? 'internal' : err.code);
      }
      return errorReply(err.code);
    }
    this.options.log.error('request failed unexpectedly', {
      event: 'request_failed',
      code: 'internal',
      err,
      source,
      stack: (err as Error)?.stack,
    });
    return errorReply('internal');
  }
}

function claimedTokenId(authorization: string | undefined): string | undefined {
  const text = tokenFromAuthorization(authorization);
  return text === undefined ? undefined : parseFleetToken(text)?.id;
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

/** A reply written straight to a socket that has no ServerResponse (node:http gave up on the request). */
function rawResponse(reply: Reply): string {
  const length = String(Buffer.byteLength(reply.body));
  const headers = { ...reply.headers, 'cache-control': 'no-store', connection: 'close', 'content-length': length };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return [`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}`, ...lines, '', reply.body].join('\r\n');
}
