/** `fleetcert crl publish`: write a fresh CRL for the broker now (e.g. from cron when serve is not running). */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { loadAuthority } from '../authority/authority.js';
import { loadBrokerLink } from '../config/broker-settings.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { publishAndReload } from '../revocation/publish-crl.js';
import { initialisedLayout, withRegistry } from './data-dir.js';
import { dataDirOption, jsonOption } from './options.js';

export function crlCommand(io: CliIo): Command {
  const crl = new Command('crl').summary('publish the certificate revocation list for the broker');
  crl
    .command('publish')
    .summary('write a fresh CRL and reload the broker')
    .description('serve does this by itself at half the CRL lifetime; run this when serve is not running (cron).')
    .addHelpText(
      'after',
      `
Examples:
  fleetcert crl publish --passphrase-file /etc/fleetcert/ca-passphrase
  # cron, when "fleetcert serve" does not run on the broker host:
  0 */6 * * * fleetcert crl publish --passphrase-file /etc/fleetcert/ca-passphrase --json`,
    )
    .addOption(new Option('--passphrase-file <file>', 'file holding the CA key passphrase').env('FLEETCERT_CA_PASSPHRASE_FILE'))
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (options: { dataDir: string; passphraseFile?: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const broker = await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret);
      if (!broker)
        throw new FleetcertError('broker_not_configured', 'no broker configured', { hint: 'run "fleetcert broker-config" first' });
      const authority = await loadAuthority(
        layout,
        (await readPassphrase({ file: options.passphraseFile, env: process.env[PASSPHRASE_ENV] })).value,
      );
      const published = await withRegistry(layout, (registry) => publishAndReload(registry, authority, broker, new Date()));
      const { reload } = published;
      io.stdout(
        options.json
          ? JSON.stringify({
              ok: true,
              path: published.path,
              number: published.crlNumber,
              entries: published.entries,
              nextUpdate: published.nextUpdate.toISOString(),
              reload,
            }) + '\n'
          : `CRL #${published.crlNumber} (${published.entries} revoked) written to ${published.path}, ` +
              `valid until ${published.nextUpdate.toISOString()}; broker reload: ${reload}.\n`,
      );
    });
  return crl;
}
