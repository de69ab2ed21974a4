/**
 * The operator console and /metrics on their own HTTPS listener (`serve --console-listen`),
 * with the server's TLS certificate. A client certificate is requested but optional: an admin's
 * certificate (`fleetcert admin issue`) logs in at once, anyone else gets the password form.
 *
 * Every request: security headers (strict CSP, no framing, no caching of pages), the admin
 * resolved from the certificate or the session, the role checked, and every POST's CSRF token
 * compared with its session's before anything is read or changed. Actions are registry
 * operations audited with `console:<admin>`.
 */
import { createServer, type Server } from 'node:https';
import { clientCertHttpsOptions, type ServerTlsContext } from '../authority/server-tls.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Eta } from 'eta';
import { isFleetcertError } from '../../shared/errors.js';
import { normalizeSerial } from '../../shared/pki/certificate.js';
import { FailureLimiter } from '../est/failure-limiter.js';
import type { AdminRecord } from '../registry/records.js';
import { ADMIN_CN_PREFIX, ADMIN_ORGANIZATION } from '../admins/admin-identity.js';
import { DUMMY_PASSWORD_HASH, verifyPassword } from '../admins/password-hash.js';
import { CONSOLE_CSS, CONSOLE_ICON } from './console-css.js';
import { renderPage, redirect, type ConsoleDeps, type ConsoleReply, type PageRequest } from './console-context.js';
import { FormRejected, readForm } from './form-body.js';
import { auditPage } from './pages/audit-page.js';
import { deviceAction, devicePage, type DeviceAction } from './pages/device-page.js';
import { devicesPage } from './pages/devices-page.js';
import { healthPage } from './pages/health-page.js';
import { createToken, revokeToken, tokensPage } from './pages/tokens-page.js';
import { clearedSessionCookie, csrfTokenMatches, sessionCookie, sessionIdFromCookies, SessionStore, type Session } from './sessions.js';
import { consoleTemplates } from './templates.js';
import { listen } from '../../shared/net/listen.js';

/** No script at all, nothing from elsewhere, no framing; forms post only here. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

type Handler = (req: PageRequest) => Promise<ConsoleReply>;
interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly handler: Handler;
  /** Changes something: operators only. */
  readonly acts?: boolean;
}

const action =
  (a: DeviceAction): Handler =>
  (req) =>
    deviceAction(req, a);
const ROUTES: readonly Route[] = [
  { method: 'GET', pattern: /^\/$/, handler: devicesPage },
  { method: 'GET', pattern: /^\/devices\/([^/]{1,200})$/, handler: (req) => devicePage(req) },
  { method: 'POST', pattern: /^\/devices\/([^/]{1,200})\/approve$/, handler: action('approve'), acts: true },
  { method: 'POST', pattern: /^\/devices\/([^/]{1,200})\/reset$/, handler: action('reset'), acts: true },
  { method: 'POST', pattern: /^\/devices\/([^/]{1,200})\/revoke$/, handler: action('revoke'), acts: true },
  { method: 'POST', pattern: /^\/devices\/([^/]{1,200})\/renew$/, handler: action('renew'), acts: true },
  { method: 'GET', pattern: /^\/health$/, handler: healthPage },
  { method: 'GET', pattern: /^\/tokens$/, handler: (req) => tokensPage(req) },
  { method: 'POST', pattern: /^\/tokens$/, handler: createToken, acts: true },
  { method: 'POST', pattern: /^\/tokens\/([^/]{1,200})\/revoke$/, handler: revokeToken, acts: true },
  { method: 'GET', pattern: /^\/audit$/, handler: auditPage },
];

const STATUS_OF: Readonly<Record<string, number>> = { device_not_found: 404, token_not_found: 404, usage: 400 };

export interface ConsoleServerOptions {
  readonly tls: ServerTlsContext;
  readonly deps: ConsoleDeps;
  readonly now?: () => Date;
}

export class ConsoleServer {
  private server: Server | undefined;
  private readonly sessions = new SessionStore();
  private readonly templates: Eta = consoleTemplates();
  // Password guessing: 10 failures per source address in 5 minutes, then 429 (scrypt bounds the rate too).
  private readonly loginLimiter = new FailureLimiter({ maxFailures: 10, windowSeconds: 300 });
  private readonly now: () => Date;

  constructor(private readonly options: ConsoleServerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  async start(host: string, port: number): Promise<AddressInfo> {
    // The client certificate is asked for, not required: a browser without an admin certificate logs in with a password.
    const server = createServer(clientCertHttpsOptions(this.options.tls, 10_000), (req, res) => this.respond(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.on('tlsClientError', (err) => this.options.deps.log.debug(() => `console TLS handshake failed: ${err.message}`));
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

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private respond(req: IncomingMessage, res: ServerResponse): void {
    this.handle(req)
      .catch((err: unknown) => {
        this.options.deps.log.error('console request failed', { event: 'console_request_failed', err, stack: (err as Error)?.stack });
        return this.message(undefined, undefined, 500, 'Something went wrong', 'The server could not complete this request; see its log.');
      })
      .then((reply) => {
        if (res.headersSent || res.destroyed) return;
        const headers = { ...SECURITY_HEADERS, 'cache-control': 'no-store', ...reply.headers };
        res.writeHead(reply.status, headers);
        res.end(reply.body);
      })
      .catch(() => res.destroy());
  }

  private async handle(req: IncomingMessage): Promise<ConsoleReply> {
    const now = this.now();
    const url = new URL(req.url ?? '/', 'https://console.invalid');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/static/console.css') {
      return { status: 200, headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }, body: CONSOLE_CSS };
    }
    if (req.method === 'GET' && (path === '/static/icon.svg' || path === '/favicon.ico')) {
      return { status: 200, headers: { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=3600' }, body: CONSOLE_ICON };
    }
    const source = req.socket.remoteAddress ?? 'unknown';
    if (path === '/metrics') {
      const { admin } = await this.identify(req, now, 'nothing');
      if (!admin) return { status: 401, headers: { 'content-type': 'text/plain' }, body: 'authentication required\n' };
      if (req.method !== 'GET') return { status: 405, headers: { 'content-type': 'text/plain', allow: 'GET' }, body: 'GET only\n' };
      const { metrics } = this.options.deps;
      return { status: 200, headers: { 'content-type': metrics.contentType }, body: await metrics.render(now) };
    }
    const who = await this.identify(req, now, path === '/login' ? 'visitor' : 'session');
    const setCookie: Record<string, string> = who.newSession && who.session ? { 'set-cookie': sessionCookie(who.session) } : {};
    const withCookie = (reply: ConsoleReply): ConsoleReply => ({ ...reply, headers: { ...reply.headers, ...setCookie } });
    if (who.admin && who.session && path === '/login') return withCookie(redirect('/'));
    if (path === '/login' && who.session) return withCookie(await this.login(req, who.session, now, source));
    if (!who.admin || !who.session) return redirect('/login');
    const admin = who.admin;
    const session = who.session;

    let form = new URLSearchParams();
    if (req.method === 'POST') {
      // Fetch Metadata, defence in depth before the token (OWASP): a browser says when a form came from another site.
      const site = req.headers['sec-fetch-site'];
      if (site === 'cross-site' || site === 'same-site') {
        await this.refuse(admin, 'cross_site', path, source, now);
        return this.message(admin, session, 403, 'Form refused', 'This form was sent from another site.');
      }
      try {
        form = await readForm(req);
      } catch (err) {
        if (err instanceof FormRejected) return this.message(admin, session, err.status, 'Bad request', err.message);
        throw err;
      }
      // The synchronizer token, before anything else: a forged cross-site form stops here.
      if (!csrfTokenMatches(session, form.get('csrf'))) {
        await this.refuse(admin, 'csrf_invalid', path, source, now);
        return this.message(
          admin,
          session,
          403,
          'Form refused',
          'This form has no valid token for your session (it is old, or it was not sent from this console). Reload the page and try again.',
        );
      }
      if (path === '/logout') {
        this.sessions.close(session.id);
        return { status: 303, headers: { location: '/login', 'set-cookie': clearedSessionCookie() }, body: '' };
      }
    }
    const route = ROUTES.find((r) => r.method === req.method && r.pattern.test(path));
    if (!route) {
      const known = ROUTES.some((r) => r.pattern.test(path));
      return withCookie(this.message(admin, session, known ? 405 : 404, known ? 'Method not allowed' : 'Not found', 'No such page.'));
    }
    if (route.acts && admin.role !== 'operator') {
      await this.refuse(admin, 'forbidden', path, source, now);
      return withCookie(this.message(admin, session, 403, 'Not allowed', `${admin.name} is a viewer: viewers see, operators act.`));
    }
    let params: string[];
    try {
      params = route.pattern
        .exec(path)!
        .slice(1)
        .map((p) => decodeURIComponent(p));
    } catch {
      return withCookie(this.message(admin, session, 400, 'Bad request', 'The address is not well formed.'));
    }
    const pageRequest: PageRequest = {
      deps: this.options.deps,
      templates: this.templates,
      admin,
      session,
      url,
      form,
      params,
      now,
      source: `console:${admin.name}`,
    };
    try {
      return withCookie(await route.handler(pageRequest));
    } catch (err) {
      if (isFleetcertError(err) && err.code in STATUS_OF) {
        const status = STATUS_OF[err.code]!;
        return withCookie(this.message(admin, session, status, status === 404 ? 'Not found' : 'Not done', err.message));
      }
      throw err;
    }
  }

  /**
   * The admin behind this request: an admin certificate the registry knows (it opens or keeps a
   * session bound to it), else a password session. A session opened by a certificate ends when
   * that certificate is no longer presented. `opens` says what this request may create: a session
   * (pages), a visitor session too (the login form needs its token), or nothing (/metrics: a
   * scraper keeps no cookie, and must not leave a session and a login row every 15 seconds).
   */
  private async identify(
    req: IncomingMessage,
    now: Date,
    opens: 'session' | 'visitor' | 'nothing',
  ): Promise<{ admin?: AdminRecord; session?: Session; newSession: boolean }> {
    const { registry } = this.options.deps;
    const existing = this.sessions.get(sessionIdFromCookies(req.headers.cookie), now.getTime());
    const certificate = await this.certificateAdmin(req, now);
    if (certificate) {
      if (existing?.admin === certificate.admin.name && existing.certificateSerial === certificate.serial) {
        return { admin: certificate.admin, session: existing, newSession: false };
      }
      if (opens === 'nothing') return { admin: certificate.admin, newSession: false };
      if (existing) this.sessions.close(existing.id);
      const session = this.sessions.open(certificate.admin.name, certificate.serial, now.getTime());
      await registry.audit({
        at: now,
        action: 'console_login',
        source: `console:${certificate.admin.name}`,
        detail: { method: 'certificate', serial: certificate.serial },
      });
      return { admin: certificate.admin, session, newSession: true };
    }
    if (existing && existing.admin !== undefined && existing.certificateSerial === undefined) {
      const admin = await registry.getAdmin(existing.admin);
      if (admin) return { admin, session: existing, newSession: false };
    }
    if (existing && existing.admin === undefined) return { session: existing, newSession: false };
    if (existing) this.sessions.close(existing.id);
    if (opens !== 'visitor') return { newSession: false };
    return { session: this.sessions.open(undefined, undefined, now.getTime()), newSession: true };
  }

  private async certificateAdmin(req: IncomingMessage, now: Date): Promise<{ admin: AdminRecord; serial: string } | undefined> {
    const socket = req.socket as TLSSocket;
    if (!socket.authorized) return undefined; // no certificate, or one that does not chain to this CA
    const peer = socket.getPeerCertificate(false);
    if (!peer?.serialNumber || typeof peer.subject?.CN !== 'string') return undefined;
    // Belt and braces: the registry lookup by serial is the check; the subject must also be an admin's.
    if (!peer.subject.CN.startsWith(ADMIN_CN_PREFIX) || peer.subject.O !== ADMIN_ORGANIZATION) return undefined;
    const serial = normalizeSerial(peer.serialNumber);
    const admin = await this.options.deps.registry.adminByCertificate(serial, now);
    if (!admin || `${ADMIN_CN_PREFIX}${admin.name}` !== peer.subject.CN) return undefined;
    return { admin, serial };
  }

  private async login(req: IncomingMessage, visitor: Session, now: Date, source: string): Promise<ConsoleReply> {
    const form = (status: number, error?: string): ConsoleReply =>
      renderPage(
        this.templates,
        'login',
        {},
        { title: 'Log in', admin: undefined, csrf: visitor.csrfToken, status, ...(error ? { error } : {}) },
      );
    if (req.method === 'GET') return form(200);
    if (req.method !== 'POST') return form(405);
    let body: URLSearchParams;
    try {
      body = await readForm(req);
    } catch (err) {
      if (err instanceof FormRejected) return form(err.status, 'The form could not be read.');
      throw err;
    }
    if (!csrfTokenMatches(visitor, body.get('csrf'))) return form(403, 'The form expired; try again.');
    const retryAfter = this.loginLimiter.retryAfter(source, now);
    if (retryAfter !== undefined) {
      return {
        ...form(429, `Too many failed logins from your address; try again in ${retryAfter} s.`),
        headers: { 'retry-after': String(retryAfter), 'content-type': 'text/html; charset=utf-8' },
      };
    }
    const name = (body.get('name') ?? '').slice(0, 32);
    const password = body.get('password') ?? '';
    const admin = await this.options.deps.registry.getAdmin(name);
    // The same scrypt work whether or not the admin exists or has a password: timing says nothing about names.
    const ok = await verifyPassword(password, admin?.passwordHash ?? DUMMY_PASSWORD_HASH);
    if (!admin || !admin.passwordHash || !ok) {
      this.loginLimiter.recordFailure(source, now);
      await this.options.deps.registry.audit({
        at: now,
        action: 'console_refused',
        code: 'login_failed',
        source: `console:${source}`,
        detail: { name },
      });
      this.options.deps.log.warn('console login failed', { event: 'console_login_failed', source });
      return form(401, 'Wrong name or password.');
    }
    // A new session id at login: a session id known before it (fixation) is worth nothing after.
    this.sessions.close(visitor.id);
    const session = this.sessions.open(admin.name, undefined, now.getTime());
    await this.options.deps.registry.audit({
      at: now,
      action: 'console_login',
      source: `console:${admin.name}`,
      detail: { method: 'password', from: source },
    });
    this.options.deps.log.info('console login', { event: 'console_login', admin: admin.name, method: 'password' });
    return { status: 303, headers: { location: '/', 'set-cookie': sessionCookie(session) }, body: '' };
  }

  private async refuse(admin: AdminRecord, code: string, path: string, source: string, now: Date): Promise<void> {
    await this.options.deps.registry.audit({
      at: now,
      action: 'console_refused',
      code,
      source: `console:${admin.name}`,
      detail: { path: path.slice(0, 200), from: source },
    });
    this.options.deps.log.warn('console request refused', { event: 'console_refused', code, admin: admin.name, path: path.slice(0, 200) });
  }

  private message(
    admin: AdminRecord | undefined,
    session: Session | undefined,
    status: number,
    heading: string,
    text: string,
  ): ConsoleReply {
    return renderPage(
      this.templates,
      'message',
      { heading, text, back: '/' },
      { title: heading, admin, csrf: session?.csrfToken ?? '', status },
    );
  }
}
