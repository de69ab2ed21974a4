/** `fleetcert broker-config`: the Mosquitto configuration, ACL and files that enforce the registry. */
import { Command, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathExists } from '../../shared/fs/path-exists.js';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { parseDuration } from '../../shared/duration.js';
import { FleetcertError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import { certificatesToPem } from '../../shared/pki/certificate.js';
import { ADMIN_USER } from '../../shared/protocol/topics.js';
import { VERSION } from '../../shared/version.js';
import { loadAuthority, type Authority } from '../authority/authority.js';
import { ensureServerIdentity } from '../authority/server-identity.js';
import { writeBrokerSettings, type BrokerSettings } from '../config/broker-settings.js';
import type { DataLayout } from '../config/data-layout.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { renderEmqxAcl, renderEmqxSettings } from '../emqx/render-emqx-config.js';
import {
  brokerFiles,
  brokerOwnership,
  emqxFiles,
  prepareBrokerDirectory,
  writeBrokerFile,
  type Ownership,
} from '../mosquitto/broker-files.js';
import { passwordFileLine } from '../mosquitto/password-file.js';
import { reloadBroker } from '../mosquitto/reload-broker.js';
import { activeServiceAcls, writeBrokerAcl } from '../mosquitto/write-broker-acl.js';
import { renderAdminAcl, renderMosquittoConfig } from '../mosquitto/render-mosquitto-config.js';
import { publishCrl } from '../revocation/publish-crl.js';
import { AVAHI_SERVICE_FILE } from '../config/avahi-paths.js';
import { writeAvahiService } from '../discovery/avahi-service-file.js';
import { initialisedLayout, withRegistry } from './data-dir.js';
import { row } from './format.js';
import { dataDirOption, jsonOption, caPassphraseOption } from './options.js';

interface BrokerConfigOptions {
  dataDir: string;
  out: string;
  port: string;
  bind: string;
  adminPort: string;
  host?: string;
  reloadPidFile?: string;
  reloadCommand?: string;
  group: string;
  crlValidity: string;
  passphraseFile?: string;
  avahiService?: string | true;
  enrollPort: string;
  peerAdmin?: string[];
  json?: boolean;
  kind: BrokerKind;
}

const BROKER_KINDS = ['mosquitto', 'emqx'] as const;
type BrokerKind = (typeof BROKER_KINDS)[number];

export function brokerConfigCommand(io: CliIo): Command {
  return new Command('broker-config')
    .summary('write the Mosquitto config, ACL and files that enforce the registry')
    .description(
      'Write, into --out, a Mosquitto 2.0 configuration (fleetcert.conf) with a mutual-TLS listener for ' +
        'devices and a loopback admin listener, the ACL confining each device to its own topics (and each ' +
        'service to what "fleetcert service issue" granted it), the ' +
        "broker's certificate and key, the CA bundle, a password file and a fresh CRL. Safe to run again.",
    )
    .addOption(dataDirOption())
    .requiredOption('--out <dir>', 'directory for the broker files, e.g. /etc/mosquitto/fleetcert')
    .option('--port <port>', 'device listener port (mutual TLS)', '8883')
    .option('--bind <address>', 'address the device listener binds (default: all)', '')
    .option('--admin-port <port>', 'loopback admin listener port', '8884')
    .option('--host <name>', "the broker's name as devices verify it (default <hostname>.local)")
    .addOption(
      new Option('--reload-pid-file <file>', 'reload Mosquitto by SIGHUP to the pid in this file (its pid_file)').conflicts(
        'reloadCommand',
      ),
    )
    .option('--reload-command <command>', 'reload Mosquitto with this command, e.g. "systemctl reload mosquitto"')
    .option('--group <group>', 'group Mosquitto runs as; when run as root, files become readable to it', 'mosquitto')
    .option('--crl-validity <duration>', 'CRL lifetime; serve republishes it at half-life', '7d')
    .option(
      '--peer-admin <host:port>',
      "another broker's admin listener: revocations end the device's session there too (repeatable)",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .addOption(caPassphraseOption('signs the CRL'))
    .option(
      '--avahi-service [file]',
      `on hosts that run avahi-daemon (the production mDNS path): write its service file (default ${AVAHI_SERVICE_FILE})`,
    )
    .option('--enroll-port <port>', "the enrollment endpoint's port in the avahi service file (serve --listen)", '8443')
    .addOption(
      new Option('--kind <broker>', 'mosquitto (the tested default) or emqx (EMQX 5 settings and ACL; see docs/BROKERS.md)')
        .choices(BROKER_KINDS)
        .default('mosquitto'),
    )
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert broker-config --kind emqx --out ./emqx-fleetcert --port 8883
  fleetcert broker-config --out /etc/mosquitto/fleetcert --reload-command "systemctl reload mosquitto" \\
      --passphrase-file /etc/fleetcert/ca-passphrase
  ln -s /etc/mosquitto/fleetcert/fleetcert.conf /etc/mosquitto/conf.d/fleetcert.conf
  systemctl restart mosquitto
  fleetcert broker-config --out /etc/mosquitto/fleetcert --avahi-service   # and announce it with avahi-daemon`,
    )
    .action(async (options: BrokerConfigOptions) => {
      const port = portOption('--port', options.port);
      const adminPort = portOption('--admin-port', options.adminPort);
      const enrollPort = portOption('--enroll-port', options.enrollPort);
      if (port === adminPort) throw new FleetcertError('usage', '--port and --admin-port must differ');
      const crlValiditySeconds = parseDuration(options.crlValidity);
      if (crlValiditySeconds === undefined || crlValiditySeconds < 3600) {
        throw new FleetcertError('usage', `--crl-validity "${options.crlValidity}" must be a duration of at least 1h`);
      }
      const layout = await initialisedLayout(options.dataDir);
      const passphrase = await readPassphrase({ file: options.passphraseFile, env: process.env[PASSPHRASE_ENV] });
      const authority = await loadAuthority(layout, passphrase.value);
      const now = new Date();
      const outDir = resolve(options.out);
      const files = brokerFiles(outDir);
      const owner = await brokerOwnership(options.group);
      if (options.kind === 'emqx') {
        await writeEmqxFiles({
          io,
          layout,
          authority,
          outDir,
          owner,
          port,
          bind: options.bind,
          now,
          crlValiditySeconds,
          json: options.json,
        });
        return;
      }
      const adminPassword = await readOrCreateAdminSecret(layout.brokerAdminSecret);

      await prepareBrokerDirectory(outDir, owner);
      await writeBrokerFile(files.cafile, certificatesToPem([authority.root, authority.issuer.certificate]), owner);
      await writeBrokerFile(files.certfile, await readFile(layout.brokerTls.cert, 'utf8'), owner);
      await writeBrokerFile(files.keyfile, await readFile(layout.brokerTls.key, 'utf8'), owner, true);
      await writeBrokerFile(files.adminAclFile, renderAdminAcl(), owner);
      await writeBrokerFile(files.passwordFile, passwordFileLine(ADMIN_USER, adminPassword), owner, true);
      const crl = await withRegistry(layout, async (registry) => {
        await writeBrokerAcl(registry, { outDir, group: owner.gid === undefined ? null : options.group });
        return publishCrl({
          registry,
          signer: authority.crlSigner,
          crlFile: files.crlfile,
          owner,
          now,
          validitySeconds: crlValiditySeconds,
        });
      });
      await writeBrokerFile(files.conf, renderMosquittoConfig({ files, bind: options.bind, port, adminPort, version: VERSION }), owner);
      const issuedIdentity = await ensureServerIdentity(authority, layout.serverClientTls, now);

      const settings: BrokerSettings = {
        version: 1,
        outDir,
        host: options.host ?? `${hostname().split('.')[0]!.toLowerCase()}.local`,
        port,
        bind: options.bind,
        adminPort,
        reload: options.reloadPidFile
          ? { kind: 'pid-file', path: resolve(options.reloadPidFile) }
          : options.reloadCommand
            ? { kind: 'command', command: options.reloadCommand }
            : { kind: 'none' },
        crlValiditySeconds,
        group: owner.gid === undefined ? null : options.group,
        peers: (options.peerAdmin ?? []).map(peerAdmin),
      };
      await writeBrokerSettings(layout.brokerSettings, settings);
      const avahi = options.avahiService
        ? await writeAvahiService(options.avahiService === true ? AVAHI_SERVICE_FILE : resolve(options.avahiService), {
            host: settings.host,
            brokerPort: port,
            enrollPort,
            systemHostname: hostname(),
          })
        : undefined;

      // A broker already running with these files picks them up; a stopped one will at start.
      let reloaded = 'not configured';
      if (settings.reload.kind === 'pid-file' && !(await pathExists(settings.reload.path))) {
        reloaded = `Mosquitto is not running (no ${settings.reload.path}); it reads the files when it starts`;
      } else if (settings.reload.kind !== 'none') {
        reloaded = await reloadBroker(settings.reload).then(
          () => 'done',
          (err: Error) => `failed (${err.message}); the files are written, reload Mosquitto yourself`,
        );
      }
      if (options.json) {
        io.stdout(
          JSON.stringify({
            ok: true,
            files,
            settings,
            crl: { number: crl.crlNumber, entries: crl.entries, nextUpdate: crl.nextUpdate.toISOString() },
            serverIdentityIssued: issuedIdentity,
            reloaded,
            ...(avahi ? { avahiService: avahi } : {}),
          }) + '\n',
        );
        return;
      }
      io.stdout(
        [
          `Wrote the Mosquitto configuration for fleetcert in ${outDir}`,
          row('device listener', `${options.bind || '*'}:${port}, mutual TLS, identity = certificate CN`),
          row('admin listener', `127.0.0.1:${adminPort} (${ADMIN_USER}, used to end revoked sessions)`),
          row(
            'files',
            `${files.conf}, acl, admin.acl, passwd, ca.pem, broker.pem, broker.key${owner.gid === undefined ? '' : ` (group ${options.group})`}`,
          ),
          row('CRL', `${crl.entries} revoked, valid until ${crl.nextUpdate.toISOString()}`),
          row('broker name', `${settings.host}:${port} (what devices verify)`),
          ...(avahi
            ? [
                row(
                  'avahi',
                  `${avahi.path}: _secure-mqtt._tcp on ${port}, enrollment port ${enrollPort}` +
                    (avahi.hostPublishedByAvahi ? '' : `; add "<address> ${settings.host}" to /etc/avahi/hosts`),
                ),
              ]
            : []),
          row(
            'reload',
            settings.reload.kind === 'none'
              ? 'not configured: give --reload-pid-file or --reload-command so revocation reaches the broker at once'
              : reloaded,
          ),
          '',
          'Include it in Mosquitto (once), then restart it:',
          `  ln -s ${files.conf} /etc/mosquitto/conf.d/fleetcert.conf`,
          '  systemctl restart mosquitto',
          '',
        ].join('\n'),
      );
    });
}

/**
 * `--kind emqx`: the client-CA bundle, the CRL, a server key pair, the EMQX settings and ACL, into
 * --out. No broker.json: revoke's reload and session takeover are Mosquitto's (docs/BROKERS.md).
 */
async function writeEmqxFiles(p: {
  io: CliIo;
  layout: DataLayout;
  authority: Authority;
  outDir: string;
  owner: Ownership;
  port: number;
  bind: string;
  now: Date;
  crlValiditySeconds: number;
  json: boolean | undefined;
}): Promise<void> {
  const { layout, authority, owner, now } = p;
  const files = emqxFiles(p.outDir);
  await prepareBrokerDirectory(p.outDir, owner);
  await writeBrokerFile(files.cafile, certificatesToPem([authority.root, authority.issuer.certificate]), owner);
  await writeBrokerFile(files.certfile, await readFile(layout.brokerTls.cert, 'utf8'), owner);
  await writeBrokerFile(files.keyfile, await readFile(layout.brokerTls.key, 'utf8'), owner, true);
  const crl = await withRegistry(layout, async (registry) => {
    await registry.transaction(async (tx) => writeBrokerFile(files.aclFile, renderEmqxAcl(await activeServiceAcls(tx)), owner), {
      lock: 'broker-acl',
    });
    const validitySeconds = p.crlValiditySeconds;
    return publishCrl({ registry, signer: authority.crlSigner, crlFile: files.crlfile, owner, now, validitySeconds });
  });
  await writeBrokerFile(files.settings, renderEmqxSettings({ files, bind: p.bind, port: p.port, version: VERSION }), owner);
  if (p.json) {
    const crlJson = { number: crl.crlNumber, entries: crl.entries, nextUpdate: crl.nextUpdate.toISOString() };
    p.io.stdout(JSON.stringify({ ok: true, kind: 'emqx', files, crl: crlJson }) + '\n');
    return;
  }
  p.io.stdout(
    [
      `Wrote the EMQX 5 settings for fleetcert in ${p.outDir}`,
      row('settings', `${files.settings} (merge into emqx.conf)`),
      row('ACL', `${files.aclFile} (file authorization)`),
      row('client CAs', files.cafile),
      row('CRL', `${files.crlfile}, ${crl.entries} revoked, valid until ${crl.nextUpdate.toISOString()}`),
      '',
      'See docs/BROKERS.md: what is tested on EMQX and what is not, and how revocation reaches it.',
      '',
    ].join('\n'),
  );
}

async function readOrCreateAdminSecret(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32).toString('base64url');
  await writeFileAtomic(path, secret + '\n', { mode: 0o600 });
  return secret;
}

function peerAdmin(value: string): { host: string; adminPort: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (!match) throw new FleetcertError('usage', `--peer-admin "${value}" must be host:port`);
  return { host: match[1] ?? match[2]!, adminPort: portOption('--peer-admin', match[3]!) };
}

function portOption(name: string, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new FleetcertError('usage', `${name} "${value}" is not a port (1-65535)`);
  return port;
}
