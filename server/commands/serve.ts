/** `fleetcert serve`: the EST enrollment endpoint, until SIGTERM/SIGINT. */
import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { parseDuration } from '../../shared/duration.js';
import { FleetcertError } from '../../shared/errors.js';
import { createLogger, parseLogLevel } from '../../shared/log/logger.js';
import { certificateToPem } from '../../shared/pki/certificate.js';
import { VERSION } from '../../shared/version.js';
import { loadAuthority } from '../authority/authority.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { EnrollmentService } from '../enrollment/enrollment-service.js';
import { DEFAULT_LIMITS, EstServer } from '../est/est-server.js';
import { FailureLimiter } from '../est/failure-limiter.js';
import { Registry } from '../registry/registry.js';
import { initialisedLayout } from './data-dir.js';
import { dataDirOption, jsonOption } from './options.js';

interface ServeOptions {
  dataDir: string;
  passphraseFile?: string;
  listen: string;
  deviceLifetime: string;
  pendingRetry: string;
  maxAuthFailures: string;
  failureWindow: string;
  headerTimeout: string;
  logLevel: string;
  json?: boolean;
}

export function serveCommand(io: CliIo): Command {
  return new Command('serve')
    .summary('run the EST enrollment endpoint (HTTPS)')
    .description(
      'Serve EST (RFC 7030) over HTTPS: /.well-known/est/cacerts, simpleenroll (fleet token),\n' +
        'simplereenroll (current certificate over mutual TLS). Logs JSON lines to stderr.',
    )
    .addOption(dataDirOption())
    .addOption(new Option('--passphrase-file <file>', 'file holding the CA key passphrase').env('FLEETCERT_CA_PASSPHRASE_FILE'))
    .addOption(new Option('--listen <host:port>', 'address to listen on (port 0 picks a free one)').env('FLEETCERT_LISTEN').default('0.0.0.0:8443'))
    .option('--device-lifetime <duration>', 'lifetime of device certificates', '30d')
    .option('--pending-retry <duration>', 'Retry-After sent to devices waiting for approval', '60s')
    .option('--max-auth-failures <n>', 'failed authentications per source address before 429', '10')
    .option('--failure-window <duration>', 'window over which failures are counted', '60s')
    .option('--header-timeout <duration>', 'time a client has to send its request headers (slow clients are cut off)', '10s')
    .addOption(new Option('--log-level <level>', 'debug, info, warn, error').env('FLEETCERT_LOG_LEVEL').default('info'))
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert serve --passphrase-file /etc/fleetcert/ca-passphrase
  fleetcert serve --listen 127.0.0.1:0 --device-lifetime 7d --json   # prints the chosen port`,
    )
    .action(async (options: ServeOptions) => {
      const log = createLogger({ namespace: 'fleetcert', level: parseLogLevel(options.logLevel) });
      const listen = parseListen(options.listen);
      const settings = {
        deviceLifetimeSeconds: durationOption('--device-lifetime', options.deviceLifetime),
        pendingRetryAfterSeconds: durationOption('--pending-retry', options.pendingRetry),
      };
      const maxFailures = Number(options.maxAuthFailures);
      if (!Number.isSafeInteger(maxFailures) || maxFailures < 1) throw new FleetcertError('usage', '--max-auth-failures must be a whole number of 1 or more');
      const limiter = new FailureLimiter({ maxFailures, windowSeconds: durationOption('--failure-window', options.failureWindow) });

      const layout = await initialisedLayout(options.dataDir);
      const passphrase = await readPassphrase({ file: options.passphraseFile, env: process.env[PASSPHRASE_ENV] });
      const authority = await loadAuthority(layout, passphrase.value);
      const registry = Registry.open(layout.registry);
      const service = new EnrollmentService(registry, authority, settings, log.child('enroll'));
      const server = new EstServer({
        tls: {
          certPem: await readFile(layout.enrollTls.cert, 'utf8'),
          keyPem: await readFile(layout.enrollTls.key, 'utf8'),
          caPems: [certificateToPem(authority.root), certificateToPem(authority.issuer.certificate)],
        },
        service,
        caCertificates: [authority.issuer.certificate, authority.root],
        limiter,
        log: log.child('est'),
        limits: { ...DEFAULT_LIMITS, headersTimeoutMs: durationOption('--header-timeout', options.headerTimeout) * 1000 },
      });
      let address;
      try {
        address = await server.start(listen.host, listen.port);
      } catch (err) {
        registry.close();
        throw new FleetcertError('config_invalid', `cannot listen on ${options.listen}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
      const url = `https://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      log.info('listening', { url, version: VERSION, deviceLifetimeSeconds: settings.deviceLifetimeSeconds });
      io.stdout(options.json ? JSON.stringify({ ok: true, url, host: address.address, port: address.port }) + '\n' : `fleetcert ${VERSION}: EST enrollment on ${url}/.well-known/est/\n`);

      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      log.info('stopping', { signal });
      await server.stop();
      registry.close();
      log.info('stopped');
    });
}

function durationOption(name: string, value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined) throw new FleetcertError('usage', `${name} "${value}" is not a duration (e.g. 90s, 30m, 12h, 30d)`);
  return seconds;
}

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new FleetcertError('usage', `--listen "${value}" must be host:port, [ipv6]:port or a port`);
  return { host: match[1] || match[2] || '0.0.0.0', port };
}
