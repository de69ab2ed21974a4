/**
 * /metrics: the fleet as Prometheus sees it, on the console listener, in its own prom-client
 * Registry (never the global one). Fleet-wide series are counted by the registry database at
 * scrape time, so every server behind a shared database reports the same fleet; in-process
 * series (issuance latency, requests refused for load) are this server's own.
 */
import { readFile } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import { parseCrl } from '../../shared/pki/crl.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import type { CertificateIssuer } from '../authority/certificate-issuer.js';
import { DEVICE_STATUSES } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { tokenState } from '../tokens/token-scope.js';

/** Audit actions that are enrollment and renewal outcomes (with the refusal code, when refused). */
export const OUTCOME_ACTIONS = ['issued', 'reissued', 'renewed', 'pending', 'refused'] as const;
const EXPIRY_WINDOWS_DAYS = [1, 7, 30] as const;

export interface MetricsSources {
  readonly registry: Registry;
  /** The broker's CRL file and the CA that signs it, when a broker is configured. */
  readonly crl?: { readonly file: string; readonly issuer: Certificate };
}

export class ConsoleMetrics {
  readonly prometheus = new PromRegistry();
  private readonly issuance = new Histogram({
    name: 'fleetcert_issuance_duration_seconds',
    help: 'Time to sign one certificate (device or admin) with the issuing CA, on this server',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.prometheus],
  });
  private readonly loadRefusals = new Counter({
    name: 'fleetcert_load_refused_requests_total',
    help: 'EST requests refused by this server for load: rate_limited (failed-token limiter) or server_busy',
    labelNames: ['code'],
    registers: [this.prometheus],
  });
  private readonly outcomes = new Counter({
    name: 'fleetcert_enrollment_outcomes_total',
    help: 'Enrollment and renewal decisions in the audit log, by action (issued, renewed, refused...) and refusal code',
    labelNames: ['action', 'code'],
    registers: [this.prometheus],
  });
  private readonly devices = gauge(this.prometheus, 'fleetcert_devices', 'Devices by registry status', ['status']);
  private readonly online = gauge(this.prometheus, 'fleetcert_devices_online', 'Devices whose retained status says online');
  private readonly expiring = gauge(
    this.prometheus,
    'fleetcert_certificates_expiring',
    'Active device certificates expiring within the window (1d, 7d, 30d)',
    ['within'],
  );
  private readonly expired = gauge(
    this.prometheus,
    'fleetcert_certificates_expired_active',
    'Active device certificates past notAfter (not renewed)',
  );
  private readonly crlThisUpdate = gauge(this.prometheus, 'fleetcert_crl_this_update_timestamp_seconds', 'thisUpdate of the published CRL');
  private readonly crlNextUpdate = gauge(this.prometheus, 'fleetcert_crl_next_update_timestamp_seconds', 'nextUpdate of the published CRL');
  private readonly tokenUsesLeft = gauge(
    this.prometheus,
    'fleetcert_token_uses_left',
    'Enrollments left on each usable fleet token with a use limit',
    ['token', 'name'],
  );
  private readonly rows = gauge(this.prometheus, 'fleetcert_registry_rows', 'Rows in the registry, by table', ['table']);

  constructor(private readonly sources: MetricsSources) {
    collectDefaultMetrics({ register: this.prometheus, prefix: 'fleetcert_process_' });
  }

  /** The issuer, timed: what the enrollment service signs with. */
  timedIssuer(issuer: CertificateIssuer): CertificateIssuer {
    const histogram = this.issuance;
    return {
      certificate: issuer.certificate,
      async issue(request) {
        const end = histogram.startTimer();
        try {
          return await issuer.issue(request);
        } finally {
          end();
        }
      },
    };
  }

  refusedForLoad(code: 'rate_limited' | 'server_busy'): void {
    this.loadRefusals.inc({ code });
  }

  get contentType(): string {
    return this.prometheus.contentType;
  }

  /** Reads the fleet from the registry and the CRL file, then renders every series. */
  async render(now: Date): Promise<string> {
    const { registry } = this.sources;
    const summary = await registry.fleetSummary(now, Math.max(...EXPIRY_WINDOWS_DAYS));
    for (const status of DEVICE_STATUSES) this.devices.set({ status }, summary.byStatus[status]);
    this.online.set(summary.online);
    for (const days of EXPIRY_WINDOWS_DAYS) {
      this.expiring.set(
        { within: `${days}d` },
        summary.expiringPerDay.slice(0, days).reduce((a, b) => a + b, 0),
      );
    }
    this.expired.set(summary.expired);
    this.rows.set(
      { table: 'devices' },
      Object.values(summary.byStatus).reduce((a, b) => a + b, 0),
    );
    this.rows.set({ table: 'certificates' }, summary.certificates);
    this.rows.set({ table: 'audit' }, summary.auditEntries);

    // A counter read from the append-only audit log: it only ever grows, across restarts and servers.
    this.outcomes.reset();
    for (const c of await registry.countAudit(OUTCOME_ACTIONS, new Date(0))) {
      this.outcomes.inc({ action: c.action, code: c.code ?? '' }, c.count);
    }
    this.tokenUsesLeft.reset();
    for (const t of await registry.listTokens()) {
      if (t.maxUses === null || tokenState(t, now) !== 'active') continue;
      this.tokenUsesLeft.set({ token: t.id, name: t.name }, t.maxUses - t.uses);
    }
    await this.readCrl();
    return this.prometheus.metrics();
  }

  private async readCrl(): Promise<void> {
    this.crlThisUpdate.reset();
    this.crlNextUpdate.reset();
    if (!this.sources.crl) return;
    try {
      const crl = await parseCrl(await readFile(this.sources.crl.file, 'utf8'), this.sources.crl.issuer);
      this.crlThisUpdate.set(crl.thisUpdate.getTime() / 1000);
      if (crl.nextUpdate) this.crlNextUpdate.set(crl.nextUpdate.getTime() / 1000);
    } catch {
      // No series rather than a wrong one: the alert on a missing nextUpdate fires (absent()).
    }
  }
}

function gauge<T extends string>(registry: PromRegistry, name: string, help: string, labelNames: readonly T[] = []): Gauge<T> {
  return new Gauge({ name, help, labelNames, registers: [registry] });
}
