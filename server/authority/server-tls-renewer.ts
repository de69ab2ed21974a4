/**
 * Keeps serve's own TLS certificates current: the EST endpoint's (and the console's, which shares
 * it) and the broker's. Checked at start and then periodically; a due certificate is replaced with
 * a new key (server-tls.ts says when), then:
 * - the endpoint: the running HTTPS servers swap their secure context (tls.Server.setSecureContext),
 *   so new handshakes present the new certificate and open connections are left alone;
 * - the broker: its copies in the broker directory are replaced and Mosquitto reloaded (SIGHUP reloads
 *   certfile/keyfile for new connections; connected devices stay connected), unless the broker
 *   presents another certificate (an operator's public one, docs/BROKERS.md), which is left alone.
 * Devices verify both against the CA, never against a pinned leaf, so they do not notice.
 *
 * Several serve processes may share a data directory: the files are replaced inside a registry
 * transaction holding the server-tls lock (SQLite's write lock, PostgreSQL's advisory lock) after
 * checking the certificate is still due, so two of them never both replace it, and each then loads
 * what is on disk.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../../shared/log/logger.js';
import { describeCertificate, readCertificates } from '../../shared/pki/certificate.js';
import type { BrokerLink } from '../config/broker-settings.js';
import type { DataLayout, TlsFiles } from '../config/data-layout.js';
import { brokerFiles, brokerOwnership, writeBrokerFile } from '../mosquitto/broker-files.js';
import { reloadBroker } from '../mosquitto/reload-broker.js';
import type { Registry } from '../registry/registry.js';
import type { Authority } from './authority.js';
import { issueServerTls, readServerTls, renewalRequest, serverTlsDue, writeServerTls, type ServerTlsPems } from './server-tls.js';

export interface ServerTlsRenewerOptions {
  readonly authority: Authority;
  readonly layout: DataLayout;
  readonly registry: Registry;
  readonly broker: BrokerLink | undefined;
  readonly lifetimeSeconds: number;
  readonly log: Logger;
  /** The endpoint's certificate changed (on disk): swap it into the running servers. */
  readonly onEndpointRenewed: (pems: ServerTlsPems) => void;
  readonly now?: () => Date;
}

type Which = 'endpoint' | 'broker';

export class ServerTlsRenewer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ServerTlsRenewerOptions) {}

  async start(): Promise<void> {
    await this.checkNow();
    // Twelve checks per lifetime (a renewal is due for its last third), at most hourly.
    const everyMs = Math.min(3_600_000, Math.max(500, (this.options.lifetimeSeconds * 1000) / 12));
    this.timer = setInterval(() => void this.checkNow(), everyMs);
    this.timer.unref();
  }

  /** Renews whatever is due; one check at a time. Failures are logged, not thrown: the old certificate still serves. */
  checkNow(): Promise<void> {
    this.running ??= this.checkAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async checkAll(): Promise<void> {
    await this.check('endpoint', this.options.layout.enrollTls);
    if (this.options.broker) await this.check('broker', this.options.layout.brokerTls);
  }

  private async check(which: Which, files: TlsFiles): Promise<void> {
    const { authority, registry, lifetimeSeconds, log } = this.options;
    const now = this.options.now?.() ?? new Date();
    try {
      const current = await readServerTls(files);
      if (!serverTlsDue(current.info.notAfter, now, lifetimeSeconds)) return;
      const renewed = await issueServerTls(authority.issuer, renewalRequest(current, now, lifetimeSeconds));
      let copied = false;
      const replaced = await registry.transaction(
        async () => {
          const again = await readServerTls(files);
          if (again.info.serialNumber !== current.info.serialNumber) return false; // another serve renewed it meanwhile
          await writeServerTls(files, renewed);
          if (which === 'broker') copied = await this.copyToBroker(renewed, current.info.serialNumber);
          return true;
        },
        { lock: 'server-tls' },
      );
      const onDisk = replaced ? renewed : await readServerTls(files);
      if (which === 'endpoint') this.options.onEndpointRenewed(onDisk);
      else if (copied) await reloadBroker(this.options.broker!.settings.reload);
      else if (replaced) {
        log.warn('the broker presents a certificate fleetcert did not put there: left alone', {
          event: 'server_tls_broker_copy_skipped',
          serial: onDisk.info.serialNumber,
        });
      }
      log.info('server certificate renewed', {
        event: 'server_tls_renewed',
        which,
        serial: onDisk.info.serialNumber,
        previousSerial: current.info.serialNumber,
        notAfter: onDisk.info.notAfter,
        byThisProcess: replaced,
      });
    } catch (err) {
      log.error('could not renew a server certificate: it keeps serving until it expires', {
        event: 'server_tls_renewal_failed',
        which,
        err,
      });
    }
  }

  /**
   * Replaces the broker's copy, only if it is the certificate being renewed: an operator who put
   * their own (public) certificate there keeps it. True when it copied.
   */
  private async copyToBroker(pems: ServerTlsPems, renewing: string): Promise<boolean> {
    const { settings } = this.options.broker!;
    const files = brokerFiles(settings.outDir);
    const inUse = await readFile(files.certfile, 'utf8')
      .then((pem) => describeCertificate(readCertificates(pem)[0]!).serialNumber)
      .catch(() => undefined);
    if (inUse !== renewing) return false;
    const owner = await brokerOwnership(settings.group ?? undefined);
    await writeBrokerFile(files.keyfile, pems.keyPem, owner, true);
    await writeBrokerFile(files.certfile, pems.certPem, owner);
    return true;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
