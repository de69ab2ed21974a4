/** `fleetcert renew-now`: pull the renewal of devices forward, and tell them over MQTT. */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { loadBrokerLink } from '../config/broker-settings.js';
import { sendCommands } from '../mosquitto/admin-listener.js';
import { initialisedLayout, operatorSource, withRegistry } from './data-dir.js';
import { dataDirOption, jsonOption } from './options.js';

interface RenewNowOptions {
  dataDir: string;
  all?: boolean;
  reason: string;
  keyCompromise?: boolean;
  push: boolean;
  json?: boolean;
}

export function renewNowCommand(io: CliIo): Command {
  return new Command('renew-now')
    .summary('make devices renew their certificate now (renewal info + MQTT)')
    .description(
      'Record in the registry that the current certificate of the named devices (or with --all, of every ' +
        'active device) should renew from now on: every device learns it from its renewal info ' +
        '(GET /fleetcert/v1/renewal-info), which agents ask for at start and every --renewal-info-retry of ' +
        '"fleetcert serve" (6 h). With a broker configured, also publish a "renew" command through its ' +
        'loopback admin listener (run this on the broker host), so connected devices renew within seconds. ' +
        'With --key-compromise, each current certificate may still renew itself, and is revoked (CRL reason ' +
        'keyCompromise) the moment its successor is issued: "fleetcert serve" then republishes the CRL, reloads ' +
        'the broker and ends the session still using the old key, before the device receives the new certificate.',
    )
    .argument('[ids...]', 'device ids')
    .option('--all', 'every active device')
    .option('--reason <text>', 'why, for the audit log and the devices\' logs (e.g. "CA rotation")', 'operator request')
    .option('--key-compromise', 'the current key may have leaked: revoke each current certificate as soon as its successor is issued')
    .option('--no-push', 'only record it; do not publish the MQTT command')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert renew-now rpi4-100000002a5c3b71 --key-compromise --reason "SD card lost"
  fleetcert renew-now --all --reason "intermediate CA rotation"`,
    )
    .action(async (ids: string[], options: RenewNowOptions) => {
      if ((options.all === true) === ids.length > 0) throw new FleetcertError('usage', 'name device ids or give --all (not both)');
      const reason = options.reason.slice(0, 128);
      const layout = await initialisedLayout(options.dataDir);
      const targets = await withRegistry(layout, async (registry) => {
        if (!options.all) {
          const statuses = await Promise.all(ids.map(async (id) => (await registry.getDevice(id))?.status));
          const missing = ids.filter((_id, i) => statuses[i] !== 'active');
          if (missing.length > 0)
            throw new FleetcertError('device_not_found', `not active devices: ${missing.join(', ')}`, {
              hint: 'see "fleetcert device list"',
            });
        }
        const keyCompromise = options.keyCompromise === true;
        return registry.requestRenewal(options.all ? 'all' : ids, reason, new Date(), operatorSource(), { keyCompromise });
      });
      const broker = options.push ? await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret) : undefined;
      let pushed = false;
      let pushError: string | undefined;
      if (broker && targets.length > 0) {
        try {
          await sendCommands({ port: broker.settings.adminPort, password: broker.adminPassword }, targets, {
            command: 'renew',
            reason,
            issuedAt: new Date().toISOString(),
          });
          pushed = true;
        } catch (err) {
          // Recorded already: devices still learn it from their renewal info.
          pushError = (err as Error).message;
        }
      }
      if (options.json) {
        const keyCompromise = options.keyCompromise === true;
        const flags = { ...(keyCompromise ? { keyCompromise } : {}), pushed, ...(pushError ? { pushError } : {}) };
        io.stdout(JSON.stringify({ ok: true, requested: targets, ...flags }) + '\n');
        return;
      }
      const lines = [
        `Renewal requested for ${targets.length} device(s)${targets.length > 0 && targets.length <= 10 ? `: ${targets.join(', ')}` : ''}.`,
      ];
      if (options.keyCompromise && targets.length > 0) {
        lines.push('Key compromise: each current certificate is revoked the moment its successor is issued (serve cuts it off then).');
      }
      if (pushed) lines.push('Sent "renew" over MQTT: connected devices renew within seconds.');
      else if (pushError)
        lines.push(`Could not publish over MQTT (${pushError}); devices still renew when they next ask for their renewal info.`);
      else if (targets.length > 0)
        lines.push('Devices renew when they next ask for their renewal info (at agent start, then every --renewal-info-retry of serve).');
      io.stdout(lines.join('\n') + '\n');
    });
}
