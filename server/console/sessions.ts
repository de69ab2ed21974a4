/**
 * Console sessions: a random 256-bit id in a cookie, and per session a random CSRF token (the
 * synchronizer token of OWASP's cheat sheet) that every form carries back. Kept in this process's
 * memory on purpose: a restart logs everyone out, and nothing about a session is ever on disk.
 * With several servers behind one address, pin console traffic to one (it is an operator tool on
 * its own listener, not part of the enrollment path).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = '__Host-fleetcert-session';

export interface Session {
  readonly id: string;
  readonly csrfToken: string;
  /** The admin logged in, or undefined for a visitor of the login page (whose form needs a token too). */
  readonly admin: string | undefined;
  /** Set when the session was opened by a client certificate: it ends when that certificate is no longer presented. */
  readonly certificateSerial: string | undefined;
  readonly createdAt: number;
  lastUsedAt: number;
}

export interface SessionLimits {
  readonly idleMs: number;
  readonly absoluteMs: number;
  /** Sessions kept at most; the least recently used go first (a flood of login-page visits cannot grow memory). */
  readonly max: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3600_000, max: 10_000 };

export class SessionStore {
  // A Map keeps insertion order: re-inserting on use makes the first entry the least recently used.
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS) {}

  open(admin: string | undefined, certificateSerial: string | undefined, now: number): Session {
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      csrfToken: randomBytes(32).toString('base64url'),
      admin,
      certificateSerial,
      createdAt: now,
      lastUsedAt: now,
    };
    this.sessions.set(session.id, session);
    while (this.sessions.size > this.limits.max) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  /** The live session with this id (touched), or undefined. */
  get(id: string | undefined, now: number): Session | undefined {
    if (id === undefined || id.length !== 43) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (now - session.lastUsedAt > this.limits.idleMs || now - session.createdAt > this.limits.absoluteMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastUsedAt = now;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  close(id: string): void {
    this.sessions.delete(id);
  }
}

/** Constant-time comparison of the token a form sent with the session's. */
export function csrfTokenMatches(session: Session, sent: string | null): boolean {
  if (sent === null) return false;
  const a = Buffer.from(session.csrfToken);
  const b = Buffer.from(sent);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function sessionCookie(session: Session): string {
  // __Host-: Secure, Path=/ and no Domain, so no other host or path can set or shadow it.
  return `${SESSION_COOKIE}=${session.id}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** The session id from a Cookie header (bounded: a huge header is no session). */
export function sessionIdFromCookies(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === SESSION_COOKIE && value && /^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  }
  return undefined;
}
