/** `fleetcert device list|show|approve|reset`: the device registry, for operators. */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import {
  DEVICE_STATUSES,
  type AuditEntry,
  type CertificateRecord,
  type ContestedAttempt,
  type DeviceRecord,
  type DeviceStatus,
  type RefusalGroup,
  type TakeoverFlag,
} from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { createLogger } from '../../shared/log/logger.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../shared/pki/crl.js';
import { loadAuthority } from '../authority/authority.js';
import { loadBrokerLink } from '../config/broker-settings.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { revokeDevice } from '../revocation/revoke-device.js';
import { initialisedLayout, operatorSource, withRegistry } from './data-dir.js';
import { refusalJson, refusalsSince, refusalsTable, REFUSALS_WINDOW_DAYS } from './device-refusals.js';
import { day, minute, row, table } from './format.js';
import { expiresInSeconds, formatExpiresIn, presenceOf } from '../fleet/at-a-glance.js';
import { parseDuration } from '../../shared/duration.js';
import { dataDirOption, jsonOption, caPassphraseOption } from './options.js';

interface ListOptions {
  dataDir: string;
  status?: DeviceStatus;
  pending?: boolean;
  expiringWithin?: string;
  silentFor?: string;
  refused?: boolean;
  json?: boolean;
}

/** Waiting: for the operator's approval, or for the approved key to collect its certificate. */
const WAITING: readonly DeviceStatus[] = ['pending', 'approved'];

export function deviceCommand(io: CliIo): Command {
  const device = new Command('device').summary('list, inspect, approve and reset devices');

  device
    .command('list')
    .summary('list devices with their current certificate, online state and time to expiry')
    .addHelpText(
      'after',
      `
Examples:
  fleetcert device list
  fleetcert device list --pending                 # waiting for "device approve", with their key fingerprints
  fleetcert device list --status revoked --json
  fleetcert device list --expiring-within 7d      # renewal is not happening for these
  fleetcert device list --silent-for 1d --json    # boards that went quiet
  fleetcert device list --refused                 # boards refused on first contact (id_not_allowed, token_expired, ...)`,
    )
    .addOption(dataDirOption())
    .addOption(new Option('--status <status>', 'only devices in this state').choices(DEVICE_STATUSES).conflicts('pending'))
    .addOption(new Option('--pending', 'only devices waiting (pending, or approved and not collected), with the key each waits with'))
    .option('--expiring-within <duration>', 'only devices whose active certificate expires within this (e.g. 7d)')
    .option('--silent-for <duration>', 'only devices not seen for at least this long (e.g. 6h)')
    .addOption(
      new Option(
        '--refused',
        `refused enrollment attempts of the last ${REFUSALS_WINDOW_DAYS} days (id, source, code, count), not devices`,
      ).conflicts(['status', 'pending', 'expiringWithin', 'silentFor']),
    )
    .addOption(jsonOption())
    .action(async (options: ListOptions) => {
      const now = new Date();
      const query = {
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(options.expiringWithin === undefined
          ? {}
          : { expiringBefore: new Date(now.getTime() + 1000 * durationArgument('--expiring-within', options.expiringWithin)) }),
        ...(options.silentFor === undefined
          ? {}
          : { silentSince: new Date(now.getTime() - 1000 * durationArgument('--silent-for', options.silentFor)) }),
      };
      const layout = await initialisedLayout(options.dataDir);
      if (options.refused) {
        const groups = await withRegistry(layout, (registry) => registry.listRefusals({ since: refusalsSince(new Date()) }));
        if (options.json) io.stdout(JSON.stringify({ ok: true, refusals: groups.map(refusalJson) }) + '\n');
        else io.stdout(groups.length === 0 ? `No refused attempts in the last ${REFUSALS_WINDOW_DAYS} days.\n` : refusalsTable(groups));
        return;
      }
      const rows = await withRegistry(layout, async (registry) => {
        const { devices } = await registry.queryDevices(query);
        const listed = options.pending ? devices.filter((d) => WAITING.includes(d.device.status)) : devices;
        return Promise.all(
          listed.map(async (d) => ({
            ...d,
            // Only a waiting id can be contested: once issued, another key is id_taken.
            contested: WAITING.includes(d.device.status) ? (await registry.contestedAttempts(d.device.id)).length : 0,
          })),
        );
      });
      const takeovers = await withRegistry(layout, (registry) => registry.listTakeoverFlags({ since: takeoverSince(new Date()) }));
      const takenOver = new Map(takeovers.map((t) => [t.deviceId, t]));
      if (options.json) {
        // The fields of earlier versions stay as they were; online and expiresInSeconds are added.
        const devices = rows.map((r) => ({
          ...deviceJson(r.device),
          contested: r.contested,
          certificate: r.current ? certificateJson(r.current) : null,
          online: presenceOf(r.device) === 'never' ? null : presenceOf(r.device) === 'online',
          expiresInSeconds: expiresInSeconds(r.current, now),
          sessionTakeover: takeoverJson(takenOver.get(r.device.id)),
        }));
        io.stdout(JSON.stringify({ ok: true, devices }) + '\n');
        return;
      }
      if (rows.length === 0) {
        const what = options.pending ? 'waiting' : options.status;
        const filtered = options.expiringWithin !== undefined || options.silentFor !== undefined;
        io.stdout(
          filtered ? 'No devices match.\n' : what ? `No ${what} devices.\n` : 'No devices yet: they appear here when they enroll.\n',
        );
        return;
      }
      if (options.pending || (options.status !== undefined && WAITING.includes(options.status))) {
        // The full fingerprint: the operator compares it with the one the device logged before approving.
        io.stdout(
          table(
            ['DEVICE', 'STATUS', 'KEY SHA-256', 'CONTESTED', 'SINCE', 'TOKEN'],
            rows.map(({ device: d, contested }) => [
              d.id,
              d.status,
              d.pendingKeySha256 ?? '-',
              contested === 0 ? '-' : `${contested} other key(s)`,
              minute(d.updatedAt),
              d.tokenId ?? '-',
            ]),
          ),
        );
        if (rows.some((r) => r.contested > 0)) {
          io.stdout('Contested ids: another key tried to claim them; see "fleetcert device show <id>" before approving.\n');
        }
        return;
      }
      io.stdout(
        table(
          ['DEVICE', 'STATUS', 'ONLINE', 'SERIAL', 'EXPIRES', 'IN', 'LAST SEEN', 'TOKEN'],
          rows.map(({ device: d, current: c }) => [
            d.id,
            d.status,
            presenceOf(d) === 'never' ? '-' : presenceOf(d),
            c ? c.serial.slice(0, 16) : '-',
            day(c?.notAfter),
            formatExpiresIn(expiresInSeconds(c, now)),
            minute(d.lastSeen),
            d.tokenId ?? '-',
          ]),
        ),
      );
      const flagged = rows.filter((r) => takenOver.has(r.device.id)).map((r) => r.device.id);
      if (flagged.length > 0) io.stdout(`${TAKEOVER_NOTE}: ${flagged.join(', ')} (see "fleetcert device show <id>").\n`);
    });

  device
    .command('show')
    .summary('one device: record, certificates, audit trail')
    .addHelpText(
      'after',
      `
Examples:
  fleetcert device show rpi4-100000002a5c3b71
  fleetcert device show rpi4-100000002a5c3b71 --json | jq .certificates`,
    )
    .argument('<id>', 'device id')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const found = await withRegistry(layout, (registry) => lookup(registry, id));
      if (found.device === undefined) {
        // Never enrolled, but refused: what the operator looking for this board needs to see.
        io.stdout(
          options.json
            ? JSON.stringify({ ok: true, device: null, refusals: found.refusals.map(refusalJson) }) + '\n'
            : `No device ${id} in the registry: it never enrolled. Its refused attempts:\n` + refusalsTable(found.refusals),
        );
        return;
      }
      if (options.json) {
        io.stdout(
          JSON.stringify({
            ok: true,
            device: deviceJson(found.device),
            sessionTakeover: takeoverJson(found.takeover),
            refusals: found.refusals.map(refusalJson),
            contested: found.contested.map(contestedJson),
            certificates: found.certificates.map(certificateJson),
            audit: found.audit.map(auditJson),
          }) + '\n',
        );
        return;
      }
      const d = found.device;
      const lines = [
        `Device ${d.id}`,
        row('status', d.status),
        row('token', d.tokenId ?? '-'),
        row(
          'labels',
          Object.entries(d.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ') || '-',
        ),
        row(
          'metadata',
          Object.entries(d.metadata)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(', ') || '-',
        ),
        row('first seen', minute(d.firstSeen)),
        row('last seen', minute(d.lastSeen)),
        row('reports', d.reportedAt ? `${d.reportedState} with serial ${d.reportedSerial ?? '-'} at ${minute(d.reportedAt)}` : '-'),
      ];
      const t = found.takeover;
      if (t) lines.push(row('sessions', `${TAKEOVER_NOTE}: flagged ${t.flags} time(s), last at ${minute(t.lastAt)}`));
      if (d.pendingKeySha256) lines.push(row(d.status === 'approved' ? 'approved key' : 'waiting key', `sha256 ${d.pendingKeySha256}`));
      if (found.contested.length > 0) {
        lines.push(row('contested', `${found.contested.length} other key(s) refused since the id was bound:`));
        for (const c of found.contested) lines.push(row('', `sha256 ${c.keySha256 ?? '?'} from ${c.source ?? '?'} at ${minute(c.at)}`));
      }
      lines.push('', 'Certificates:');
      lines.push(
        found.certificates.length === 0
          ? '  none'
          : table(
              ['SERIAL', 'STATUS', 'ISSUED', 'EXPIRES', 'KEY SHA-256'],
              found.certificates.map((c) => [c.serial, c.status, minute(c.issuedAt), minute(c.notAfter), c.keySha256.slice(0, 16)]),
            )
              .trimEnd()
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n'),
      );
      lines.push('', 'Audit trail:');
      for (const a of found.audit) lines.push(`  ${minute(a.at)}  ${auditLine(a)}`);
      io.stdout(lines.join('\n') + '\n');
    });

  device
    .command('approve')
    .summary('approve a device waiting for manual approval')
    .description(
      'Approve a pending device for the key it waits with, and for that key only: its next enrollment attempt with ' +
        'that key (the agent retries on its own) gets the certificate; any other key is refused (id_pending).\n' +
        'Compare the fingerprint in "fleetcert device list --pending" with the one the device logged (keySha256) and ' +
        'pass it as --key-sha256; without it, the key listed now is approved, unless another key contested the id.',
    )
    .argument('<id>', 'device id')
    .addHelpText(
      'after',
      `
Examples:
  fleetcert device list --pending
  fleetcert device approve rpi4-100000002a5c3b71 --key-sha256 <the keySha256 the device logged>`,
    )
    .addOption(new Option('--key-sha256 <hex>', 'approve only if the waiting key has this SHA-256 fingerprint (hex, colons allowed)'))
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; keySha256?: string; json?: boolean }) => {
      const given = options.keySha256 === undefined ? undefined : parseKeyFingerprint(options.keySha256);
      const layout = await initialisedLayout(options.dataDir);
      const approved = await withRegistry(layout, (registry) => approveWaitingKey(registry, id, given));
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, device: deviceJson(approved) }) + '\n'
          : `Approved ${id} for key sha256 ${approved.pendingKeySha256}. It gets its certificate on its next attempt with that key.\n`,
      );
    });

  device
    .command('reset')
    .summary('free a device id so the next enrollment binds it again')
    .description(
      'Reset a device: the next enrollment with a valid token binds the id to whatever key it presents ' +
        '(e.g. a re-flashed board). Certificates already issued stay valid until they expire or are revoked.',
    )
    .addHelpText(
      'after',
      `
Examples:
  fleetcert device reset rpi3-c3f1e2d4   # a re-flashed board enrolls again with its new key`,
    )
    .argument('<id>', 'device id')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const reset = await withRegistry(layout, (registry) => registry.resetDevice(id, new Date(), operatorSource()));
      if (!reset) throw new FleetcertError('device_not_found', `no device "${id}"`, { hint: 'see "fleetcert device list"' });
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, device: deviceJson(reset) }) + '\n'
          : `Reset ${id}: its next enrollment binds the id again.\n`,
      );
    });

  device
    .command('revoke')
    .summary('revoke a device: registry, CRL, broker reload, live session ended')
    .description(
      'Revoke a device and every unexpired certificate it holds. With a broker configured (broker-config), ' +
        "also publish a new CRL, reload Mosquitto and end the device's live MQTT session, so it is cut off at " +
        'once. Safe to run again: a second run republishes and ends any session that came back.',
    )
    .addHelpText(
      'after',
      `
Examples:
  fleetcert device revoke rpi4-100000002a5c3b71 --passphrase-file /etc/fleetcert/ca-passphrase
  fleetcert device revoke opi-pc-2c00081a1b2c3d4 --reason keyCompromise --json`,
    )
    .argument('<id>', 'device id')
    .addOption(
      new Option('--reason <reason>', 'revocation reason written into the CRL')
        .choices(Object.keys(REVOCATION_REASONS))
        .default('unspecified'),
    )
    .addOption(caPassphraseOption('signs the CRL'))
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
      const lines = [
        `Revoked ${id}: ${
          outcome.serials.length === 0
            ? 'no unexpired certificate left to revoke'
            : `${outcome.serials.length} certificate(s): ${outcome.serials.join(', ')}`
        }`,
      ];
      if (outcome.crl) {
        lines.push(row('CRL', `#${outcome.crl.crlNumber}, ${outcome.crl.entries} revoked, ${outcome.crl.path}`));
        lines.push(
          row(
            'broker',
            outcome.reload === 'not-configured'
              ? 'no reload configured: new connections are refused once Mosquitto reloads'
              : 'reloaded: new connections with it fail the TLS handshake',
          ),
        );
        lines.push(row('live session', 'ended'));
      } else {
        lines.push('No broker configured (fleetcert broker-config): revoked in the registry only; it can no longer enroll or renew.');
      }
      io.stdout(lines.join('\n') + '\n');
    });

  return device;
}

type DeviceDetails =
  | { device: undefined; refusals: RefusalGroup[] }
  | {
      device: DeviceRecord;
      refusals: RefusalGroup[];
      takeover: TakeoverFlag | undefined;
      contested: ContestedAttempt[];
      certificates: CertificateRecord[];
      audit: AuditEntry[];
    };

/** The device, or, for an id that never enrolled, its refusals; device_not_found only when there are none either. */
async function lookup(registry: Registry, id: string): Promise<DeviceDetails> {
  const device = await registry.getDevice(id);
  const refusals = await registry.listRefusals({ since: refusalsSince(new Date()), deviceId: id });
  if (!device) {
    if (refusals.length > 0) return { device, refusals };
    throw new FleetcertError(
      'device_not_found',
      `no device "${id}", and no refused attempt for it in the last ${REFUSALS_WINDOW_DAYS} days`,
      {
        hint: 'see "fleetcert device list" and "fleetcert device list --refused"',
      },
    );
  }
  return {
    device,
    refusals,
    takeover: (await registry.listTakeoverFlags({ since: takeoverSince(new Date()), deviceId: id }))[0],
    contested: await registry.contestedAttempts(id),
    certificates: await registry.listCertificates(id),
    audit: await registry.listAudit({ deviceId: id, limit: 50 }),
  };
}

function durationArgument(name: string, value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined) throw new FleetcertError('usage', `${name} "${value}" is not a duration (e.g. 90s, 30m, 12h, 7d)`);
  return seconds;
}

/** A SHA-256 fingerprint as operators copy it: hex in any case, with or without colons. */
function parseKeyFingerprint(text: string): string {
  const hex = text.replaceAll(':', '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    const shown = JSON.stringify(text.slice(0, 80));
    throw new FleetcertError('usage', `--key-sha256 must be a SHA-256 fingerprint (64 hex digits), not ${shown}`);
  }
  return hex;
}

/**
 * Approves the key waiting for `id`: the one given, or else the one waiting now (refused if
 * another key contested the id: then the operator must say which key they checked). The
 * write is conditional on that key, so a key that changed since it was read is never approved.
 */
async function approveWaitingKey(registry: Registry, id: string, given: string | undefined): Promise<DeviceRecord> {
  const device = await registry.getDevice(id);
  if (!device) throw new FleetcertError('device_not_found', `no device "${id}"`, { hint: 'see "fleetcert device list --pending"' });
  if (device.status !== 'pending' || device.pendingKeySha256 === null) {
    throw new FleetcertError('device_not_pending', `device "${id}" is ${device.status}, not pending`, {
      hint: 'see "fleetcert device list --pending"',
    });
  }
  const hint =
    `compare "fleetcert device show ${id}" with the key fingerprint (keySha256) in the device's log; ` +
    `if the board was re-flashed, run "fleetcert device reset ${id}" and let it enroll again`;
  if (given !== undefined && given !== device.pendingKeySha256) {
    throw new FleetcertError('pending_key_mismatch', `device "${id}" waits with key ${device.pendingKeySha256}, not ${given}`, { hint });
  }
  if (given === undefined) {
    const contested = await registry.contestedAttempts(id);
    if (contested.length > 0) {
      const why = `device "${id}" is contested: ${contested.length} other key(s) tried to claim it; say which key you checked`;
      const command = `fleetcert device approve ${id} --key-sha256 <the fingerprint the device logged>`;
      throw new FleetcertError('usage', why, { hint: `${command}; ${hint}` });
    }
  }
  const approved = await registry.approveDevice(id, given ?? device.pendingKeySha256, new Date(), operatorSource());
  if (approved) return approved;
  const after = await registry.getDevice(id);
  const state = `${after?.status ?? 'gone'} with key ${after?.pendingKeySha256 ?? '-'}`;
  throw new FleetcertError('pending_key_mismatch', `device "${id}" changed while approving: it is ${state}`, { hint });
}

function auditLine(a: AuditEntry): string {
  const key = typeof a.detail?.keySha256 === 'string' ? ` key ${a.detail.keySha256.slice(0, 16)}` : '';
  const serial = a.serial ? ` serial ${a.serial.slice(0, 16)}` : '';
  return `${a.action}${a.code ? ` (${a.code})` : ''}${serial}${key}${a.source ? ` from ${a.source}` : ''}`;
}

/** How far back a session-takeover flag still shows (server/sessions/session-churn.ts raises it). */
const TAKEOVER_WINDOW_DAYS = 7;
const TAKEOVER_NOTE = 'sessions taken over repeatedly (two boards with one identity, e.g. a cloned card?)';

function takeoverSince(now: Date): Date {
  return new Date(now.getTime() - TAKEOVER_WINDOW_DAYS * 86_400_000);
}

function takeoverJson(t: TakeoverFlag | undefined) {
  return t ? { flags: t.flags, firstAt: t.firstAt.toISOString(), lastAt: t.lastAt.toISOString() } : null;
}

function contestedJson(c: ContestedAttempt) {
  return { at: c.at.toISOString(), keySha256: c.keySha256, source: c.source, tokenId: c.tokenId };
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
  return {
    seq: a.seq,
    at: a.at.toISOString(),
    action: a.action,
    code: a.code,
    serial: a.serial,
    tokenId: a.tokenId,
    source: a.source,
    detail: a.detail,
  };
}
