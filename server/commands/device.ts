/** `fleetcert device list|show|approve|reset`: the device registry, for operators. */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import type { AuditEntry, CertificateRecord, DeviceRecord, DeviceStatus, Registry } from '../registry/registry.js';
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
      const rows = await withRegistry(layout, (registry) =>
        registry.listDevices(options.status).map((d) => ({ device: d, current: registry.currentCertificate(d.id) })),
      );
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
      const approved = await withRegistry(layout, (registry) => {
        const result = registry.approveDevice(id, new Date(), operatorSource());
        if (!result) {
          const existing = registry.getDevice(id);
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
      'Reset a device: the next enrollment with a valid token binds the id to whatever key it presents\n' +
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

  return device;
}

function lookup(registry: Registry, id: string): { device: DeviceRecord; certificates: CertificateRecord[]; audit: AuditEntry[] } {
  const device = registry.getDevice(id);
  if (!device) throw new FleetcertError('device_not_found', `no device "${id}"`, { hint: 'see "fleetcert device list"' });
  return { device, certificates: registry.listCertificates(id), audit: registry.listAudit({ deviceId: id, limit: 50 }) };
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
