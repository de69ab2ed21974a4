/** `fleetcert service issue|renew|list|revoke`: the backend programs that read device data, and what they may read and write. */
import { Command, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { parseDuration } from '../../shared/duration.js';
import { FleetcertError } from '../../shared/errors.js';
import { ensureDirectory, writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import { createLogger } from '../../shared/log/logger.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../shared/pki/crl.js';
import { loadAuthority, type Authority } from '../authority/authority.js';
import { loadBrokerLink, type BrokerLink } from '../config/broker-settings.js';
import type { DataLayout } from '../config/data-layout.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { reloadBroker } from '../mosquitto/reload-broker.js';
import { writeBrokerAcl } from '../mosquitto/write-broker-acl.js';
import { exportPkcs12 } from '../pki/pkcs12-export.js';
import type { ServiceRecord } from '../registry/records.js';
import { issueServiceCertificate, type ServiceCredentials } from '../services/issue-service-certificate.js';
import { revokeService } from '../services/revoke-service.js';
import { parseServiceName, serviceCommonName } from '../services/service-identity.js';
import { parseTopicFilters } from '../services/topic-grant.js';
import { initialisedLayout, operatorSource, withRegistry } from './data-dir.js';
import { collect, minute, row, table } from './format.js';
import { dataDirOption, jsonOption, caPassphraseOption } from './options.js';
import { readSecretFile, writeExclusive } from './secret-files.js';

interface CredentialOptions {
  dataDir: string;
  p12Out?: string;
  p12PassphraseFile?: string;
  outDir?: string;
  lifetime: string;
  passphraseFile?: string;
  json?: boolean;
}

interface IssueOptions extends CredentialOptions {
  read: string[];
  write: string[];
}

/** Where the new credentials went. */
type Written = { p12: string; passphraseFile: string } | { key: string; cert: string; ca: string };

export function serviceCommand(io: CliIo): Command {
  const service = new Command('service').summary('backend consumers (Node-RED, Telegraf, ...): certificates and topic grants');

  const credentialOptions = (cmd: Command): Command =>
    cmd
      .addOption(new Option('--p12-out <file>', 'write key and certificates as one PKCS#12 (0600, never overwrites)').conflicts('outDir'))
      .option('--p12-passphrase-file <file>', 'passphrase of the PKCS#12 (default: a random one, written to <p12-out>.passphrase, 0600)')
      .option('--out-dir <dir>', 'write key.pem (0600), cert.pem (with the issuing CA) and ca.pem here, each replaced atomically')
      .option('--lifetime <duration>', 'how long the certificate is valid', '365d')
      .addOption(caPassphraseOption('signs the certificate'))
      .addOption(dataDirOption())
      .addOption(jsonOption());

  credentialOptions(
    service
      .command('issue')
      .summary('issue a service certificate and grant it topics to read and write')
      .description(
        'Issue a client certificate for a program that reads device data, and grant it MQTT topic filters: ' +
          "the broker's ACL gets a block for its identity (CN service:<name>, which no device id can be) and " +
          'is reloaded. Issuing again for an existing name replaces its grants. Writing to fleetcert/... is never granted.',
      )
      .argument('<name>', 'service name (a-z 0-9 . _ -)')
      .option('--read <filter>', 'topic filter it may subscribe to (repeat for more)', collect, [])
      .option('--write <filter>', 'topic filter it may publish to (repeat for more)', collect, []),
  )
    .addHelpText(
      'after',
      `
Examples:
  fleetcert service issue telegraf --read 'devices/+/status' --read 'devices/+/telemetry/#' --out-dir /etc/telegraf/fleetcert
  fleetcert service issue nodered --read 'devices/#' --write 'devices/+/cmd/#' --p12-out nodered.p12`,
    )
    .action(async (rawName: string, options: IssueOptions) => {
      const name = parseServiceName(rawName);
      const read = parseTopicFilters(options.read, 'read');
      const write = parseTopicFilters(options.write, 'write');
      if (read.length + write.length === 0) throw new FleetcertError('usage', 'grant at least one --read or --write topic filter');
      await issueAndRecord(io, name, options, { read, write });
    });

  credentialOptions(
    service
      .command('renew')
      .summary('a new key and certificate for a service, same grants')
      .description(
        'Issue a new key and certificate for an active service, with the grants it has. Its earlier certificates stay ' +
          'valid until they expire (so the program can be moved over without a gap); revoke the service to end them all.',
      )
      .argument('<name>', 'service name'),
  )
    .addHelpText(
      'after',
      `
Examples:
  fleetcert service renew telegraf --out-dir /etc/telegraf/fleetcert && systemctl restart telegraf`,
    )
    .action(async (rawName: string, options: CredentialOptions) => {
      const name = parseServiceName(rawName);
      await issueAndRecord(io, name, options, undefined);
    });

  service
    .command('list')
    .summary('services, their grants and certificates')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert service list
  fleetcert service list --json | jq '.services[].name'`,
    )
    .action(async (options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const services = await withRegistry(layout, (registry) => registry.listServices());
      const now = new Date();
      if (options.json) {
        io.stdout(JSON.stringify({ ok: true, services: services.map((s) => serviceJson(s, now)) }) + '\n');
        return;
      }
      if (services.length === 0) {
        io.stdout('No services. Grant one with "fleetcert service issue <name> --read <filter>".\n');
        return;
      }
      io.stdout(
        table(
          ['NAME', 'STATUS', 'VALID CERTS', 'EXPIRES', 'READ', 'WRITE'],
          services.map((s) => {
            const valid = validCertificates(s, now);
            return [
              s.name,
              s.status,
              String(valid.length),
              minute(valid.at(-1)?.notAfter),
              s.read.join(' ') || '-',
              s.write.join(' ') || '-',
            ];
          }),
        ),
      );
    });

  service
    .command('revoke')
    .summary('revoke a service: its certificates in the CRL, its grants gone, its session ended')
    .description(
      'Revoke every unexpired certificate of a service and remove its grants from the ACL. With a broker configured, ' +
        'also publish a new CRL, reload Mosquitto and end its live MQTT session. "service issue" grants it again.',
    )
    .argument('<name>', 'service name')
    .addOption(
      new Option('--reason <reason>', 'revocation reason written into the CRL')
        .choices(Object.keys(REVOCATION_REASONS))
        .default('cessationOfOperation'),
    )
    .addOption(caPassphraseOption('signs the CRL'))
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert service revoke telegraf
  fleetcert service revoke nodered --reason keyCompromise`,
    )
    .action(async (rawName: string, options: { dataDir: string; reason: RevocationReason; passphraseFile?: string; json?: boolean }) => {
      const name = parseServiceName(rawName);
      const layout = await initialisedLayout(options.dataDir);
      const broker = await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret);
      const authority = broker ? await authorityOf(layout, options.passphraseFile) : undefined;
      const log = createLogger({ namespace: 'fleetcert', level: 'warn' });
      const outcome = await withRegistry(layout, (registry) =>
        revokeService({ registry, name, reason: options.reason, now: new Date(), source: operatorSource(), authority, broker, log }),
      );
      if (options.json) {
        const crl = outcome.crl && { number: outcome.crl.crlNumber, entries: outcome.crl.entries };
        io.stdout(
          JSON.stringify({
            ok: true,
            name,
            revokedSerials: outcome.serials,
            crl,
            reload: outcome.reload,
            sessionEnded: outcome.sessionEnded,
          }) + '\n',
        );
        return;
      }
      const lines = [`Revoked service ${name}`, row('certificates', outcome.serials.join(', ') || 'no unexpired certificate left')];
      if (outcome.crl) lines.push(row('CRL', `#${outcome.crl.crlNumber}, ${outcome.crl.entries} revoked`), row('session', 'ended'));
      else lines.push('No broker configured (fleetcert broker-config): revoked in the registry only.');
      io.stdout(lines.join('\n') + '\n');
    });

  return service;
}

/**
 * Issue, write the credentials, then record: files first, registry last, so a failure leaves no
 * recorded certificate whose key nobody holds. Then the broker's ACL, and a reload so it applies.
 * Without grants it is a renewal: recorded only while the service is still active.
 */
async function issueAndRecord(
  io: CliIo,
  name: string,
  options: CredentialOptions,
  grants: { read: readonly string[]; write: readonly string[] } | undefined,
): Promise<void> {
  const notActive = () =>
    new FleetcertError('usage', `no active service "${name}"`, { hint: `grant it with "fleetcert service issue ${name}"` });
  if ((options.p12Out === undefined) === (options.outDir === undefined)) {
    throw new FleetcertError('usage', 'give one of --p12-out <file> or --out-dir <dir> for the new key and certificate');
  }
  const lifetimeSeconds = parseDuration(options.lifetime);
  if (lifetimeSeconds === undefined) throw new FleetcertError('usage', `--lifetime "${options.lifetime}" is not a duration (e.g. 90d)`);
  const layout = await initialisedLayout(options.dataDir);
  // Checked here to refuse before issuing; the registry checks again when it records.
  if (!grants && (await withRegistry(layout, (registry) => registry.getService(name)))?.status !== 'active') throw notActive();
  const authority = await authorityOf(layout, options.passphraseFile);
  const now = new Date();
  const credentials = await issueServiceCertificate({ authority, name, lifetimeSeconds, now });
  const written = await writeCredentials(name, credentials, options);
  const broker = await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret);
  const saved = await withRegistry(layout, async (registry) => {
    const record = await registry.saveService({
      name,
      ...(grants ? { grants } : {}),
      certificate: { serial: credentials.serial, notAfter: credentials.notAfter },
      now,
      source: operatorSource(),
    });
    if (!record) throw notActive(); // revoked meanwhile: the new certificate has no grants and is not recorded
    if (broker) await writeBrokerAcl(registry, broker.settings);
    return record;
  });
  const reloaded = broker ? await reloadResult(broker) : 'no broker configured (fleetcert broker-config): ACL not written';
  if (options.json) {
    const result = {
      ok: true,
      name,
      commonName: serviceCommonName(name),
      serial: credentials.serial,
      notAfter: credentials.notAfter.toISOString(),
      read: saved.read,
      write: saved.write,
      files: written,
      reloaded,
    };
    io.stdout(JSON.stringify(result) + '\n');
    return;
  }
  io.stdout(
    [
      `Issued a service certificate for ${name} (MQTT username and client id ${serviceCommonName(name)})`,
      row('serial', credentials.serial),
      row('valid until', minute(credentials.notAfter)),
      row('reads', saved.read.join(' ') || '-'),
      row('writes', saved.write.join(' ') || '-'),
      ...('p12' in written
        ? [row('PKCS#12', `${written.p12} (0600)`), row('its passphrase', written.passphraseFile)]
        : [row('key', `${written.key} (0600)`), row('certificate', written.cert), row('CA', written.ca)]),
      row('broker', reloaded),
      '',
    ].join('\n'),
  );
}

async function writeCredentials(name: string, c: ServiceCredentials, options: CredentialOptions): Promise<Written> {
  if (options.outDir !== undefined) {
    const dir = resolve(options.outDir);
    await ensureDirectory(dir, 0o700);
    const files = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem'), ca: join(dir, 'ca.pem') };
    await writeFileAtomic(files.key, c.keyPem, { mode: 0o600 });
    await writeFileAtomic(files.cert, c.certPem, { mode: 0o644 });
    await writeFileAtomic(files.ca, c.caPem, { mode: 0o644 });
    return files;
  }
  const p12 = resolve(options.p12Out!);
  const passphraseFile = options.p12PassphraseFile === undefined ? `${p12}.passphrase` : resolve(options.p12PassphraseFile);
  const passphrase =
    options.p12PassphraseFile === undefined
      ? randomBytes(18).toString('base64url')
      : await readSecretFile(passphraseFile, '--p12-passphrase-file');
  await writeExclusive(p12, await exportPkcs12(c.keyPem + c.certPem, `fleetcert service ${name}`, passphrase));
  if (options.p12PassphraseFile === undefined) await writeExclusive(passphraseFile, passphrase + '\n');
  return { p12, passphraseFile };
}

async function authorityOf(layout: DataLayout, passphraseFile: string | undefined): Promise<Authority> {
  return loadAuthority(layout, (await readPassphrase({ file: passphraseFile, env: process.env[PASSPHRASE_ENV] })).value);
}

async function reloadResult(broker: BrokerLink): Promise<string> {
  if (broker.settings.reload.kind === 'none') return 'ACL written; reload Mosquitto yourself (no --reload-* given to broker-config)';
  return reloadBroker(broker.settings.reload).then(
    () => 'ACL written, Mosquitto reloaded',
    (err: Error) => `ACL written; reload failed (${err.message}): reload Mosquitto yourself`,
  );
}

function validCertificates(s: ServiceRecord, now: Date) {
  return s.certificates.filter((c) => c.revokedAt === null && c.notAfter > now);
}

function serviceJson(s: ServiceRecord, now: Date) {
  return {
    name: s.name,
    commonName: serviceCommonName(s.name),
    status: s.status,
    read: s.read,
    write: s.write,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    certificates: s.certificates.map((c) => ({
      serial: c.serial,
      notAfter: c.notAfter.toISOString(),
      issuedAt: c.issuedAt.toISOString(),
      revokedAt: c.revokedAt?.toISOString() ?? null,
      valid: c.revokedAt === null && c.notAfter > now,
    })),
  };
}
