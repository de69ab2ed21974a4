/** `fleetcert device list|show|approve|reset`: the device registry, for operators. */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import type { AuditEntry, CertificateRecord, DeviceRecord, DeviceStatus } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { createLogger } from '../../shared/log/logger.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../shared/pki/crl.js';
import { loadAuthority } from '../authority/authority.js';
import { loadBrokerLink } from '../config/broker-settings.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { revokeDevice } from '../revocation/revoke-device.js';
import { initialisedLayout, operatorSource, withRegistry } from './data-dir.js';
import { day, minute, row, table } from './format.js';
import { dataDirOption, jsonOption } from './options.js';

const STATUSES: DeviceStatus[] = ['pending', 'approved', 'active', 'revoked', 'reset'];

export function deviceCommand(io: CliIo): Command {
  const device = new Command('device').summary('list, inspect, approve and reset devices');

  device
    .command('list')
    .summary('list devices with their current certificate')
    .addOption(dataDirOption())
    .addOption(new Option('--status <status>', 'only devices in this state').choices(STATUSES))
    .addOption(jsonOption())
    .action(async (options: { dataDir: string; status?: DeviceStatus; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const rows = await withRegistry(layout, async (registry) => {
        const devices = await registry.listDevices(options.status);
        return Promise.all(devices.map(async (d) => ({ device: d, current: await registry.currentCertificate(d.id) })));
      });
      if (options.json) {
        io.stdout(JSON.stringify({ ok: true, devices: rows.map((r) => ({ ...deviceJson(r.device), certificate: r.current ? certificateJson(r.current) : null })) }) + '\n');
        return;
      }
      if (rows.length === 0) {
        io.stdout(options.status ? `No ${options.status} devices.\n` : 'No devices yet: they appear here when they enroll.\n');
        return;
      }
      io.stdout(
        table(
          ['DEVICE', 'STATUS', 'SERIAL', 'EXPIRES', 'LAST SEEN', 'TOKEN'],
          rows.map(({ device: d, current: c }) => [d.id, d.status, c ? c.serial.slice(0, 16) : '-', day(c?.notAfter), minute(d.lastSeen), d.tokenId ?? '-']),
        ),
      );
    });

  device
    .command('show')
    .summary('one device: record, certificates, audit trail')
    .argument('<id>', 'device id')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const found = await withRegistry(layout, (registry) => lookup(registry, id));
      if (options.json) {
        io.stdout(
          JSON.stringify({ ok: true, device: deviceJson(found.device), certificates: found.certificates.map(certificateJson), audit: found.audit.map(auditJson) }) + '\n',
        );
        return;
      }
      const d = found.device;
      const lines = [
        `Device ${d.id}`,
        row('status', d.status),
        row('token', d.tokenId ?? '-'),
        row('labels', Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'),
        row('metadata', Object.entries(d.metadata).map(([k, v]) => `${k}=${String(v)}`).join(', ') || '-'),
        row('first seen', minute(d.firstSeen)),
        row('last seen', minute(d.lastSeen)),
        row('reports', d.reportedAt ? `${d.reportedState} with serial ${d.reportedSerial ?? '-'} at ${minute(d.reportedAt)}` : '-'),
      ];
      if (d.pendingKeySha256) lines.push(row('waiting key', `sha256 ${d.pendingKeySha256}`));
      lines.push('', 'Certificates:');
      lines.push(
        found.certificates.length === 0
          ? '  none'
          : table(['SERIAL', 'STATUS', 'ISSUED', 'EXPIRES', 'KEY SHA-256'], found.certificates.map((c) => [c.serial, c.status, minute(c.issuedAt), minute(c.notAfter), c.keySha256.slice(0, 16)]))
              .trimEnd()
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n'),
      );
      lines.push('', 'Audit trail:');
      for (const a of found.audit) lines.push(`  ${minute(a.at)}  ${a.action}${a.code ? ` (${a.code})` : ''}${a.serial ? ` serial ${a.serial.slice(0, 16)}` : ''}${a.source ? ` from ${a.source}` : ''}`);
      io.stdout(lines.join('\n') + '\n');
    });

  device
    .command('approve')
    .summary('approve a device waiting for manual approval')
    .description('Approve a pending device. Its next enrollment attempt (the agent retries on its own) gets the certificate.')
    .argument('<id>', 'device id')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const approved = await withRegistry(layout, async (registry) => {
        const result = await registry.approveDevice(id, new Date(), operatorSource());
        if (!result) {
          const existing = await registry.getDevice(id);
          throw existing
            ? new FleetcertError('usage', `device "${id}" is ${existing.status}, not pending`)
            : new FleetcertError('device_not_found', `no device "${id}"`, { hint: 'see "fleetcert device list --status pending"' });
        }
        return result;
      });
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, device: deviceJson(approved) }) + '\n'
          : `Approved ${id} (key sha256 ${approved.pendingKeySha256}). It gets its certificate on its next attempt.\n`,
      );
    });

  device
    .command('reset')
    .summary('free a device id so the next enrollment binds it again')
    .description(
      'Reset a device: the next enrollment with a valid token binds the id to whatever key it presents ' +
        '(e.g. a re-flashed board). Certificates already issued stay valid until they expire or are revoked.',
    )
    .argument('<id>', 'device id')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const reset = await withRegistry(layout, (registry) => registry.resetDevice(id, new Date(), operatorSource()));
      if (!reset) throw new FleetcertError('device_not_found', `no device "${id}"`, { hint: 'see "fleetcert device list"' });
      io.stdout(options.json ? JSON.stringify({ ok: true, device: deviceJson(reset) }) + '\n' : `Reset ${id}: its next enrollment binds the id again.\n`);
    });

  device
    .command('revoke')
    .summary('revoke a device: registry, CRL, broker reload, live session ended')
    .description(
      'Revoke a device and every unexpired certificate it holds. With a broker configured (broker-config), ' +
        'also publish a new CRL, reload Mosquitto and end the device\'s live MQTT session, so it is cut off at ' +
        'once. Safe to run again: a second run republishes and ends any session that came back.',
    )
    .argument('<id>', 'device id')
    .addOption(new Option('--reason <reason>', 'revocation reason written into the CRL').choices(Object.keys(REVOCATION_REASONS)).default('unspecified'))
    .addOption(new Option('--passphrase-file <file>', 'file holding the CA key passphrase (signs the CRL)').env('FLEETCERT_CA_PASSPHRASE_FILE'))
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; reason: RevocationReason; passphraseFile?: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const broker = await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret);
      const authority = broker
        ? await loadAuthority(layout, (await readPassphrase({ file: options.passphraseFile, env: process.env[PASSPHRASE_ENV] })).value)
        : undefined;
      const log = createLogger({ namespace: 'fleetcert', level: 'warn' });
      const outcome = await withRegistry(layout, (registry) =>
        revokeDevice({ registry, deviceId: id, reason: options.reason, now: new Date(), source: operatorSource(), authority, broker, log }),
      );
      if (options.json) {
        io.stdout(
          JSON.stringify({
            ok: true,
            deviceId: id,
            revokedSerials: outcome.serials,
            crl: outcome.crl ? { number: outcome.crl.crlNumber, entries: outcome.crl.entries, path: outcome.crl.path } : null,
            reload: outcome.reload ?? null,
            sessionEnded: outcome.sessionEnded,
          }) + '\n',
        );
        return;
      }
      const lines = [`Revoked ${id}: ${outcome.serials.length === 0 ? 'no unexpired certificate left to revoke' : `${outcome.serials.length} certificate(s): ${outcome.serials.join(', ')}`}`];
      if (outcome.crl) {
        lines.push(row('CRL', `#${outcome.crl.crlNumber}, ${outcome.crl.entries} revoked, ${outcome.crl.path}`));
        lines.push(row('broker', outcome.reload === 'not-configured' ? 'no reload configured: new connections are refused once Mosquitto reloads' : 'reloaded: new connections with it fail the TLS handshake'));
        lines.push(row('live session', 'ended'));
      } else {
        lines.push('No broker configured (fleetcert broker-config): revoked in the registry only; it can no longer enroll or renew.');
      }
      io.stdout(lines.join('\n') + '\n');
    });

  return device;
}

async function lookup(registry: Registry, id: string): Promise<{ device: DeviceRecord; certificates: CertificateRecord[]; audit: AuditEntry[] }> {
  const device = await registry.getDevice(id);
  if (!device) throw new FleetcertError('device_not_found', `no device "${id}"`, { hint: 'see "fleetcert device list"' });
  return { device, certificates: await registry.listCertificates(id), audit: await registry.listAudit({ deviceId: id, limit: 50 }) };
}

function deviceJson(d: DeviceRecord) {
  return {
    id: d.id,
    status: d.status,
    tokenId: d.tokenId,
    labels: d.labels,
    metadata: d.metadata,
    pendingKeySha256: d.pendingKeySha256,
    firstSeen: d.firstSeen.toISOString(),
    lastSeen: d.lastSeen.toISOString(),
    reported: d.reportedAt ? { state: d.reportedState, serial: d.reportedSerial, at: d.reportedAt.toISOString() } : null,
  };
}

function certificateJson(c: CertificateRecord) {
  return {
    serial: c.serial,
    status: c.status,
    keySha256: c.keySha256,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    issuedAt: c.issuedAt.toISOString(),
    revokedAt: c.revokedAt?.toISOString() ?? null,
    revocationReason: c.revocationReason,
  };
}

function auditJson(a: AuditEntry) {
  return { seq: a.seq, at: a.at.toISOString(), action: a.action, code: a.code, serial: a.serial, tokenId: a.tokenId, source: a.source, detail: a.detail };
}
