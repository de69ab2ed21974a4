/** What every console page handler gets, and the replies it gives. */
import type { Eta } from 'eta';
import type { Logger } from '../../shared/log/logger.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import type { Authority } from '../authority/authority.js';
import type { BrokerLink } from '../config/broker-settings.js';
import type { AdminRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import type { ConsoleMetrics } from './console-metrics.js';
import type { Session } from './sessions.js';
import type { TemplateName } from './templates.js';

export interface ConsoleDeps {
  readonly registry: Registry;
  /** Signs the CRL when a revoke publishes one. */
  readonly authority: Authority;
  readonly broker: BrokerLink | undefined;
  readonly root: Certificate;
  readonly metrics: ConsoleMetrics;
  readonly log: Logger;
  /** How far ahead the expiry plot looks: one device-certificate lifetime. */
  readonly lifetimeDays: number;
}

export interface ConsoleReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
}

export interface PageRequest {
  readonly deps: ConsoleDeps;
  readonly templates: Eta;
  readonly admin: AdminRecord;
  readonly session: Session;
  readonly url: URL;
  /** The parsed form of a POST (its CSRF token already checked). */
  readonly form: URLSearchParams;
  /** Path captures of the route (URL-decoded). */
  readonly params: readonly string[];
  readonly now: Date;
  /** Who acts, for the audit log: `console:<admin>`. */
  readonly source: string;
}

export interface PageOptions {
  readonly title: string;
  readonly nav?: 'devices' | 'health' | 'tokens' | 'audit';
  readonly status?: number;
  readonly notice?: string;
  readonly error?: string;
}

/** A page inside the layout, with the admin and the session's CSRF token every form needs. */
export function renderPage(
  templates: Eta,
  template: TemplateName,
  data: Record<string, unknown>,
  frame: PageOptions & { admin: AdminRecord | undefined; csrf: string },
): ConsoleReply {
  const body = templates.render(`@${template}`, { ...data, ...frame });
  return { status: frame.status ?? 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}

export function page(req: PageRequest, template: TemplateName, data: Record<string, unknown>, options: PageOptions): ConsoleReply {
  return renderPage(req.templates, template, data, { ...options, admin: req.admin, csrf: req.session.csrfToken });
}

/** Post/redirect/get: the next page says what happened through a fixed notice key, never reflected text. */
export function redirect(location: string): ConsoleReply {
  return { status: 303, headers: { location }, body: '' };
}

export function mapText(map: Record<string, unknown>): string {
  return (
    Object.entries(map)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ') || '-'
  );
}
