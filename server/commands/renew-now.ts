/** `fleetcert renew-now`: tell devices over MQTT to renew their certificate now. */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { loadBrokerLink } from '../config/broker-settings.js';
import { sendCommands } from '../mosquitto/admin-listener.js';
import { initialisedLayout, withRegistry } from './data-dir.js';
import { dataDirOption, jsonOption } from './options.js';

export function renewNowCommand(io: CliIo): Command {
  return new Command('renew-now')
    .summary('tell devices to renew their certificate now (over MQTT)')
    .description(
      'Publish a "renew" command to the named devices, or with --all to every active device, through the\n' +
        "broker's loopback admin listener (run it on the broker host). Devices that are offline get it on\n" +
        'their next connection only if they subscribe with a persistent session; the renewal hint of the\n' +
        'enrollment server reaches them in any case.',
    )
    .argument('[ids...]', 'device ids')
    .option('--all', 'every active device')
    .option('--reason <text>', 'why, for the devices\' logs (e.g. "CA rotation")', 'operator request')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (ids: string[], options: { dataDir: string; all?: boolean; reason: string; json?: boolean }) => {
      if (options.all === (ids.length > 0)) throw new FleetcertError('usage', 'name device ids or give --all (not both)');
      const layout = await initialisedLayout(options.dataDir);
      const broker = await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret);
      if (!broker) throw new FleetcertError('broker_not_configured', 'no broker configured', { hint: 'run "fleetcert broker-config" first' });
      const targets = await withRegistry(layout, (registry) => {
        if (options.all) return registry.listDevices('active').map((d) => d.id);
        const missing = ids.filter((id) => registry.getDevice(id)?.status !== 'active');
        if (missing.length > 0) throw new FleetcertError('device_not_found', `not active devices: ${missing.join(', ')}`, { hint: 'see "fleetcert device list"' });
        return ids;
      });
      await sendCommands({ port: broker.settings.adminPort, password: broker.adminPassword }, targets, {
        command: 'renew',
        reason: options.reason.slice(0, 128),
        issuedAt: new Date().toISOString(),
      });
      io.stdout(options.json ? JSON.stringify({ ok: true, sent: targets }) + '\n' : `Sent "renew" to ${targets.length} device(s).\n`);
    });
}
