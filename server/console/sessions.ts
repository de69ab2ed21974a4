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
  /** Logged-in sessions kept at most; the least recently used go first. */
  readonly max: number;
  /**
   * Visitor sessions (the login form's) kept at most, apart from the logged-in ones: a flood of
   * login-page visits evicts only other visitors, never an admin's session.
   */
  readonly maxVisitors: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3600_000, max: 1_000, maxVisitors: 1_000 };

export class SessionStore {
  // Maps keep insertion order: re-inserting on use makes the first entry the least recently used.
  private readonly admins = new Map<string, Session>();
  private readonly visitors = new Map<string, Session>();

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
    const [map, max] = admin === undefined ? [this.visitors, this.limits.maxVisitors] : [this.admins, this.limits.max];
    map.set(session.id, session);
    while (map.size > max) map.delete(map.keys().next().value!);
    return session;
  }

  /** The live session with this id (touched), or undefined. */
  get(id: string | undefined, now: number): Session | undefined {
    if (id === undefined || id.length !== 43) return undefined;
    const map = this.admins.has(id) ? this.admins : this.visitors;
    const session = map.get(id);
    if (!session) return undefined;
    map.delete(id);
    if (now - session.lastUsedAt > this.limits.idleMs || now - session.createdAt > this.limits.absoluteMs) return undefined;
    session.lastUsedAt = now;
    map.set(id, session);
    return session;
  }

  close(id: string): void {
    this.admins.delete(id);
    this.visitors.delete(id);
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
