/** `fleetcert serve`: the EST enrollment endpoint, until SIGTERM/SIGINT. */
import { Command, Option } from 'commander';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { parseDuration } from '../../shared/duration.js';
import { FleetcertError } from '../../shared/errors.js';
import { createLogger, parseLogLevel, type Logger } from '../../shared/log/logger.js';
import { certificatesToPem, certificateToPem, describeCertificate, readCertificates } from '../../shared/pki/certificate.js';
import { VERSION } from '../../shared/version.js';
import { ISSUER_KINDS, loadAuthority, type Authority, type IssuerKind } from '../authority/authority.js';
import type { ServerTlsContext } from '../authority/server-tls.js';
import { reservedServerIds } from '../authority/server-names.js';
import { ServerTlsRenewer } from '../authority/server-tls-renewer.js';
import { loadBrokerLink, type BrokerLink } from '../config/broker-settings.js';
import type { DataLayout } from '../config/data-layout.js';
import { BrokerAdvertisement } from '../discovery/advertise-broker.js';
import { ConsoleMetrics } from '../console/console-metrics.js';
import { ConsoleServer } from '../console/console-server.js';
import { brokerFiles } from '../mosquitto/broker-files.js';
import { AVAHI_SERVICE_FILE } from '../config/avahi-paths.js';
import { pathExists } from '../../shared/fs/path-exists.js';
import { ServerMqttClient } from '../mosquitto/server-client.js';
import { BrokerAclRefresher, DEFAULT_ACL_REFRESH_SECONDS } from '../mosquitto/broker-acl-refresher.js';
import { CrlPublisher, DEFAULT_CRL_BATCH_SECONDS } from '../revocation/crl-publisher.js';
import { CrlRefresher } from '../revocation/crl-refresher.js';
import { Supersede } from '../revocation/supersede.js';
import { CRL_HTTP_PATH, CrlHttpServer } from '../revocation/crl-http-server.js';
import { crlDistributionPoint } from '../authority/certificate-profiles.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { EnrollmentService } from '../enrollment/enrollment-service.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_PENDING_ENROLLMENTS, EstServer, type EstServerLimits } from '../est/est-server.js';
import { FailureLimiter } from '../est/failure-limiter.js';
import type { Registry } from '../registry/registry.js';
import { initialisedLayout, openRegistry, type DatabaseOptions } from './data-dir.js';
import { databaseOptions, dataDirOption, jsonOption, positiveIntegerOption, caPassphraseOption } from './options.js';

interface ServeOptions extends DatabaseOptions {
  dataDir: string;
  passphraseFile?: string;
  listen: string;
  deviceLifetime: string;
  backdate: string;
  pendingRetry: string;
  renewalGrace: string;
  renewalInfoRetry: string;
  maxAuthFailures: string;
  failureWindow: string;
  maxPendingEnrollments: string;
  headerTimeout: string;
  bodyTimeout: string;
  mdns?: boolean;
  mdnsInterface: string[];
  brokerUrl?: string;
  crlBatch: string;
  aclRefresh: string;
  logLevel: string;
  json?: boolean;
  issuer: IssuerKind;
  consoleListen?: string | true;
  crlListen?: string;
  crlUrl?: string;
  serverCertLifetime: string;
}

/** Where `--console-listen` with no address puts the console: loopback only. */
export const DEFAULT_CONSOLE_LISTEN = '127.0.0.1:8444';

export function serveCommand(io: CliIo): Command {
  const command = new Command('serve')
    .summary('run the EST enrollment endpoint (HTTPS)')
    .description(
      'Serve EST (RFC 7030) over HTTPS: /.well-known/est/cacerts, simpleenroll (fleet token), ' +
        'simplereenroll (current certificate over mutual TLS). Logs JSON lines to stderr.',
    )
    .addOption(dataDirOption());
  for (const option of databaseOptions()) command.addOption(option);
  return command
    .addOption(caPassphraseOption())
    .addOption(
      new Option('--listen <host:port>', 'address to listen on (port 0 picks a free one)').env('FLEETCERT_LISTEN').default('0.0.0.0:8443'),
    )
    .option('--device-lifetime <duration>', 'lifetime of device certificates', '30d')
    .option('--backdate <duration>', 'set notBefore this far back, for device clocks that lag', '5m')
    .option('--renewal-info-retry <duration>', 'how often devices ask for their renewal info (Retry-After)', '6h')
    .option('--pending-retry <duration>', 'Retry-After sent to devices waiting for approval', '60s')
    .option(
      '--renewal-grace <duration>',
      "how long after expiry a device's latest, unrevoked certificate may still renew itself (0s: never)",
      '30d',
    )
    .option('--max-auth-failures <n>', 'wrong or unknown tokens per (source address, token id) before 429', '10')
    .option('--failure-window <duration>', 'window over which failures are counted', '60s')
    .option(
      '--max-pending-enrollments <n>',
      'enrollments in progress at once; past that devices are answered 503 server_busy with Retry-After',
      String(DEFAULT_MAX_PENDING_ENROLLMENTS),
    )
    .option('--header-timeout <duration>', 'time a client has to send its request headers (slow clients are cut off)', '10s')
    .option('--body-timeout <duration>', 'time a client has to send its whole request body after its headers (then 408)', '10s')
    .option('--mdns', 'advertise the broker and this endpoint over mDNS (_secure-mqtt._tcp) on the local network')
    .addOption(
      new Option('--mdns-interface <name>', 'advertise only on this interface (repeatable or comma-separated; loopback only when named)')
        .argParser((value: string, list: string[]) => [...list, ...value.split(',').filter(Boolean)])
        .default([] as string[], 'every interface that is up')
        .implies({ mdns: true }),
    )
    .option('--broker-url <url>', "where serve's own MQTT client reaches the broker (default mqtts://127.0.0.1:<broker port>)")
    .option(
      '--crl-batch <duration>',
      'republish the CRL for superseded certificates at most this often (a fleet renewing at once shares one reload)',
      `${DEFAULT_CRL_BATCH_SECONDS}s`,
    )
    .option(
      '--acl-refresh <duration>',
      "re-read the services' grants from the registry this often and rewrite the broker's ACL when they changed " +
        '(grants made through another instance of a scale-out)',
      `${DEFAULT_ACL_REFRESH_SECONDS}s`,
    )
    .addOption(
      new Option('--issuer <kind>', 'what signs device certificates: fast (DER and node:crypto) or peculiar (the @peculiar/x509 reference)')
        .choices(ISSUER_KINDS)
        .default('fast'),
    )
    .addOption(
      new Option(
        '--console-listen [host:port]',
        `serve the web console and /metrics (HTTPS) here; without an address ${DEFAULT_CONSOLE_LISTEN} (loopback only)`,
      ).env('FLEETCERT_CONSOLE_LISTEN'),
    )
    .option(
      '--crl-listen <host:port>',
      'also serve the current CRL over plain HTTP on a port of its own (the EST port serves it anyway; port 0 picks one)',
    )
    .option(
      '--crl-url <url>',
      `CRL distribution point written into every device certificate (default: http://<broker host>:<EST port>${CRL_HTTP_PATH}, ` +
        'or the --crl-listen port)',
    )
    .option(
      '--server-cert-lifetime <duration>',
      "lifetime of this endpoint's and the broker's TLS certificates; serve renews each in its last third",
      '365d',
    )
    .addOption(new Option('--log-level <level>', 'debug, info, warn, error').env('FLEETCERT_LOG_LEVEL').default('info'))
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
With a broker configured (fleetcert broker-config), serve also keeps its CRL fresh, records the
status every device publishes, and once a device has proven its new certificate (its first status
with the new serial, or an mTLS request with it) revokes the old one (reason superseded) and
republishes the CRL within --crl-batch, and rewrites the broker's ACL when the services in the
registry change (--acl-refresh). The EST port also serves the current CRL over plain HTTP at
${CRL_HTTP_PATH}: the CRL distribution point every device certificate names.

Examples:
  fleetcert serve --passphrase-file /etc/fleetcert/ca-passphrase --mdns
  fleetcert serve --passphrase-file /etc/fleetcert/ca-passphrase --mdns --mdns-interface eth0 --mdns-interface wlan0
  fleetcert serve --listen 127.0.0.1:0 --device-lifetime 7d --json   # prints the chosen port
  fleetcert serve --console-listen        # console on https://127.0.0.1:8444 (fleetcert admin issue)`,
    )
    .action(async (options: ServeOptions) => {
      // Listened for before anything starts: a SIGTERM during start-up (or just after the ready line)
      // ends in the same clean stop as one later, not in the default action that kills the process.
      const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      const log = createLogger({ namespace: 'fleetcert', level: parseLogLevel(options.logLevel) });
      const listen = parseListen(options.listen);

      const settings = {
        deviceLifetimeSeconds: durationOption('--device-lifetime', options.deviceLifetime),
        backdateSeconds: durationOption('--backdate', options.backdate),
        pendingRetryAfterSeconds: durationOption('--pending-retry', options.pendingRetry),
        renewalGraceSeconds: durationOption('--renewal-grace', options.renewalGrace, { allowZero: true }),
      };
      const maxFailures = positiveIntegerOption('--max-auth-failures', options.maxAuthFailures);
      const maxPendingEnrollments = positiveIntegerOption('--max-pending-enrollments', options.maxPendingEnrollments);
      const limiter = new FailureLimiter({ maxFailures, windowSeconds: durationOption('--failure-window', options.failureWindow) });

      // Last line of defence: a promise nobody awaited must not end the server for every device.
      // The request path awaits all of its own (est-server.ts); this catches a bug anywhere else.
      const onUnhandled = (reason: unknown): void => {
        const stack = reason instanceof Error ? reason.stack : undefined;
        log.error('unhandled rejection', { event: 'unhandled_rejection', err: reason, stack });
      };
      process.on('unhandledRejection', onUnhandled);
      const layout = await initialisedLayout(options.dataDir);
      const serverNames = await ownNames([layout.enrollTls.cert, layout.brokerTls.cert]);
      const passphrase = await readPassphrase({ file: options.passphraseFile, env: process.env[PASSPHRASE_ENV] });
      const authority = await loadAuthority(layout, passphrase.value, options.issuer);
      const registry = await openRegistry(layout, options);
      const broker = await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret);
      if (options.crlListen !== undefined && !broker) {
        // The CRL it would serve is published with the broker's (serve's refresher, device revoke): without one there is none.
        await registry.close();
        throw new FleetcertError('broker_not_configured', '--crl-listen serves the CRL published for the broker, but none is configured', {
          hint: 'run "fleetcert broker-config" first',
        });
      }
      const serverCertLifetimeSeconds = durationOption('--server-cert-lifetime', options.serverCertLifetime);
      if (serverCertLifetimeSeconds < 6) throw new FleetcertError('usage', '--server-cert-lifetime must be at least 6s');
      const crlBatchMs = durationOption('--crl-batch', options.crlBatch) * 1000;
      const publisher = broker ? new CrlPublisher({ registry, authority, broker, log: log.child('crl'), batchMs: crlBatchMs }) : undefined;
      const supersede = new Supersede({
        registry,
        log: log.child('supersede'),
        ...(broker && publisher ? { broker: { link: broker, publisher } } : {}),
      });
      // The distribution point is served before any certificate names it: on the EST port itself (a
      // connection that does not open with a TLS handshake is plain HTTP, est/first-byte-router.ts), and
      // with --crl-listen on a port of its own too.
      const crlHttp = new CrlHttpServer({ registry, log: log.child('crl-http') });
      const crlListen = options.crlListen === undefined ? undefined : parseListen(options.crlListen);
      const crlAddress = crlListen
        ? await crlHttp.start(crlListen.host, crlListen.port).catch(async (err: NodeJS.ErrnoException) => {
            await registry.close();
            const why = err.code ?? err.message;
            throw new FleetcertError('config_invalid', `cannot listen on --crl-listen ${options.crlListen}: ${why}`, { cause: err });
          })
        : undefined;
      const publicName = broker?.settings.host ?? `${hostname().split('.')[0]}.local`;
      // With --listen host:0 the EST port, and so the default URL, is known only once bound (below).
      const crlPort = crlAddress?.port ?? (listen.port === 0 ? undefined : listen.port);
      let crlUrl = options.crlUrl ?? (crlPort === undefined ? undefined : defaultCrlUrl(publicName, crlPort));
      const cdp = crlUrl === undefined ? {} : { crlDistributionPoint: crlDistributionPoint(crlUrl) };
      const metrics = new ConsoleMetrics({
        registry,
        ...(broker ? { crl: { file: brokerFiles(broker.settings.outDir).crlfile, issuer: authority.issuer.certificate } } : {}),
      });
      const timedAuthority = { ...authority, issuer: metrics.timedIssuer(authority.issuer) };
      const service = new EnrollmentService(registry, timedAuthority, { ...settings, serverNames, ...cdp }, log.child('enroll'), supersede);
      // The enrollment endpoint's certificate, for its listener and the console's.
      const endpointTls: ServerTlsContext = {
        certPem: await readFile(layout.enrollTls.cert, 'utf8'),
        keyPem: await readFile(layout.enrollTls.key, 'utf8'),
        caPems: [certificateToPem(authority.root), certificateToPem(authority.issuer.certificate)],
      };
      const server = new EstServer({
        tls: endpointTls,
        service,
        caCertificates: [authority.issuer.certificate, authority.root],
        limiter,
        tokenKnown: async (tokenId) => (await registry.getToken(tokenId)) !== undefined,
        log: log.child('est'),
        renewalInfoRetrySeconds: durationOption('--renewal-info-retry', options.renewalInfoRetry),
        maxPendingEnrollments,
        onRefusedForLoad: (code) => metrics.refusedForLoad(code),
        limits: estLimits(durationOption('--header-timeout', options.headerTimeout), durationOption('--body-timeout', options.bodyTimeout)),
        plainConnection: (socket) => crlHttp.accept(socket),
      });
      let address;
      try {
        address = await server.start(listen.host, listen.port);
      } catch (err) {
        await crlHttp.stop();
        await registry.close();
        throw new FleetcertError(
          'config_invalid',
          `cannot listen on ${options.listen}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          { cause: err },
        );
      }
      if (crlUrl === undefined) {
        // Set before this start-up yields to the event loop, so before any request is read: no certificate goes without it.
        crlUrl = defaultCrlUrl(publicName, address.port);
        service.useCrlDistributionPoint(crlDistributionPoint(crlUrl));
      }
      if (options.mdns && !broker) {
        await crlHttp.stop();
        await server.stop();
        await registry.close();
        throw new FleetcertError('broker_not_configured', '--mdns advertises the broker, but none is configured', {
          hint: 'run "fleetcert broker-config" first',
        });
      }
      const tlsListeners: { setTlsCredentials(certPem: string, keyPem: string): void }[] = [server];
      const tlsRenewer = new ServerTlsRenewer({
        authority,
        layout,
        registry,
        broker,
        lifetimeSeconds: serverCertLifetimeSeconds,
        log: log.child('tls'),
        onEndpointRenewed: (pems) => tlsListeners.forEach((listener) => listener.setTlsCredentials(pems.certPem, pems.keyPem)),
      });
      const background =
        broker && publisher
          ? await startBrokerServices({
              layout,
              broker,
              publisher,
              supersede,
              registry,
              authority,
              log,
              brokerUrl: options.brokerUrl,
              aclRefreshMs: durationOption('--acl-refresh', options.aclRefresh) * 1000,
            })
          : [];
      background.unshift(() => crlHttp.stop());
      await tlsRenewer.start();
      background.push(() => tlsRenewer.stop());
      if (options.mdns && broker) {
        const advertisement = new BrokerAdvertisement({
          name: `fleetcert broker on ${hostname().split('.')[0]}`,
          host: broker.settings.host,
          brokerPort: broker.settings.port,
          enrollPort: address.port,
          interfaces: options.mdnsInterface,
          log: log.child('mdns'),
        });
        advertisement.start();
        background.push(() => advertisement.stop());
        if (await pathExists(AVAHI_SERVICE_FILE))
          log.warn(`${AVAHI_SERVICE_FILE} exists: avahi announces the broker too, and boards get two answers`, {
            event: 'mdns_avahi_also_announces',
            hint: 'on a host running avahi-daemon, drop --mdns (avahi answers on every interface and follows address changes)',
          });
      }
      let consoleUrl: string | undefined;
      if (options.consoleListen !== undefined) {
        const consoleListen = parseListen(options.consoleListen === true ? DEFAULT_CONSOLE_LISTEN : options.consoleListen);
        const consoleServer = new ConsoleServer({
          tls: endpointTls,
          deps: {
            registry,
            authority,
            broker,
            root: authority.root,
            metrics,
            log: log.child('console'),
            lifetimeDays: Math.min(366, Math.max(1, Math.ceil(settings.deviceLifetimeSeconds / 86_400))),
          },
        });
        try {
          consoleUrl = urlOf(await consoleServer.start(consoleListen.host, consoleListen.port));
        } catch (err) {
          for (const stop of background.reverse()) await stop();
          await server.stop();
          await registry.close();
          throw new FleetcertError(
            'config_invalid',
            `cannot listen on --console-listen: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
            {
              cause: err,
            },
          );
        }
        background.push(() => consoleServer.stop());
        tlsListeners.push(consoleServer);
        log.info('console listening', { event: 'console_listening', url: consoleUrl });
      }
      const url = urlOf(address);
      log.info('listening', { event: 'serve_listening', url, version: VERSION, deviceLifetimeSeconds: settings.deviceLifetimeSeconds });
      log.info('CRL distribution point', { event: 'crl_distribution_point', url: crlUrl, port: crlAddress?.port ?? address.port });
      io.stdout(
        options.json
          ? JSON.stringify({
              ok: true,
              url,
              host: address.address,
              port: address.port,
              ...(consoleUrl ? { consoleUrl } : {}),
              ...(crlAddress ? { crlPort: crlAddress.port } : {}),
              crlUrl,
            }) + '\n'
          : `fleetcert ${VERSION}: EST enrollment on ${url}/.well-known/est/${consoleUrl ? `, console on ${consoleUrl}/` : ''}\n`,
      );

      const signal = await stopRequested;
      log.info('stopping', { event: 'serve_stopping', signal });
      for (const stop of background.reverse()) await stop();
      await server.stop();
      await registry.close();
      process.off('unhandledRejection', onUnhandled);
      log.info('stopped', { event: 'serve_stopped' });
    });
}

interface BrokerServicesParams {
  readonly layout: DataLayout;
  readonly broker: BrokerLink;
  readonly publisher: CrlPublisher;
  readonly supersede: Supersede;
  readonly registry: Registry;
  readonly authority: Authority;
  readonly log: Logger;
  readonly brokerUrl: string | undefined;
  readonly aclRefreshMs: number;
}

/** The CRL and ACL refreshers and the status client, for a data directory with a configured broker. Returns their stops. */
async function startBrokerServices(p: BrokerServicesParams): Promise<(() => Promise<void> | void)[]> {
  const refresher = new CrlRefresher({ publisher: p.publisher, broker: p.broker, log: p.log.child('crl') });
  await refresher.start();
  const acl = new BrokerAclRefresher({ registry: p.registry, broker: p.broker, log: p.log.child('acl'), intervalMs: p.aclRefreshMs });
  await acl.start();
  const { settings } = p.broker;
  const host = settings.bind && settings.bind !== '0.0.0.0' && settings.bind !== '::' ? settings.bind : '127.0.0.1';
  const client = new ServerMqttClient({
    url: p.brokerUrl ?? `mqtts://${host.includes(':') ? `[${host}]` : host}:${settings.port}`,
    servername: settings.host,
    ca: certificatesToPem([p.authority.root, p.authority.issuer.certificate]),
    cert: await readFile(p.layout.serverClientTls.cert, 'utf8'),
    key: await readFile(p.layout.serverClientTls.key, 'utf8'),
    registry: p.registry,
    log: p.log.child('mqtt'),
    onSerialReported: (deviceId, serial) => p.supersede.proven(deviceId, serial, 'mqtt-status'),
  });
  client.start();
  return [() => refresher.stop(), () => acl.stop(), () => client.stop(), () => p.publisher.stop()];
}

function urlOf(address: AddressInfo): string {
  return `https://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** This host's names and those in its TLS certificates (CN, DNS and IP SANs): ids no device may take. */
async function ownNames(certificateFiles: readonly string[]): Promise<ReadonlySet<string>> {
  const names: string[] = [];
  for (const file of certificateFiles) {
    const pem = await readFile(file, 'utf8').catch(() => undefined); // the broker's exists only after broker-config
    if (pem === undefined) continue;
    const info = describeCertificate(readCertificates(pem)[0]!);
    names.push(info.subjectCommonName ?? '', ...info.dnsNames, ...info.ipAddresses);
  }
  return reservedServerIds(hostname(), names);
}

function defaultCrlUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}${CRL_HTTP_PATH}`;
}

/** The server's timeouts: the whole-request backstop always leaves room for headers and body. */
function estLimits(headersTimeoutSeconds: number, bodyTimeoutSeconds: number): EstServerLimits {
  const headersTimeoutMs = headersTimeoutSeconds * 1000;
  const bodyTimeoutMs = bodyTimeoutSeconds * 1000;
  const requestTimeoutMs = Math.max(DEFAULT_LIMITS.requestTimeoutMs, headersTimeoutMs + bodyTimeoutMs + 1_000);
  return { ...DEFAULT_LIMITS, headersTimeoutMs, bodyTimeoutMs, requestTimeoutMs };
}

function durationOption(name: string, value: string, options: { allowZero?: boolean } = {}): number {
  const seconds = parseDuration(value, options);
  if (seconds === undefined) throw new FleetcertError('usage', `${name} "${value}" is not a duration (e.g. 90s, 30m, 12h, 30d)`);
  return seconds;
}

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new FleetcertError('usage', `--listen "${value}" must be host:port, [ipv6]:port or a port`);
  return { host: match[1] || match[2] || '0.0.0.0', port };
}
