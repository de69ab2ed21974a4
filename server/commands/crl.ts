/** `fleetcert crl publish`: write a fresh CRL for the broker now (e.g. from cron when serve is not running). */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { loadAuthority } from '../authority/authority.js';
import { loadBrokerLink } from '../config/broker-settings.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { publishAndReload } from '../revocation/publish-crl.js';
import { syncCrl } from '../revocation/crl-sync.js';
import { initialisedLayout, withRegistry } from './data-dir.js';
import { dataDirOption, jsonOption, caPassphraseOption } from './options.js';

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
    .addOption(caPassphraseOption())
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
  crl
    .command('sync')
    .summary("fetch the CRL from fleetcert's distribution point, verify it, install it for this host's broker")
    .description(
      'For each broker host of a fleet with several brokers (a systemd timer runs it: fleetcert-crl-sync.timer). ' +
        'The CRL must be signed by the issuing CA in --ca, be current, and never number lower than the installed one; ' +
        'it replaces --out atomically (mode and group kept) and then --reload-command runs. An unchanged CRL reloads nothing.',
    )
    .requiredOption(
      '--url <url>',
      'the CRL distribution point, e.g. http://fleetcert.local:8443/crl/issuing-ca.crl (serve prints it: crl_distribution_point)',
    )
    .requiredOption('--out <file>', "the broker's crlfile, e.g. /etc/mosquitto/fleetcert/crl.pem")
    .requiredOption('--ca <file>', 'PEM bundle with the issuing CA, e.g. /etc/mosquitto/fleetcert/ca.pem')
    .option('--reload-command <command>', 'run after a new CRL is installed, e.g. "systemctl reload mosquitto"')
    .option('--timeout <seconds>', 'give up fetching after this long', '30')
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert crl sync --url http://fleetcert.local:8443/crl/issuing-ca.crl --out /etc/mosquitto/fleetcert/crl.pem \\
      --ca /etc/mosquitto/fleetcert/ca.pem --reload-command "systemctl reload mosquitto"
  # or every 5 minutes, from the systemd timer (deploy/systemd/fleetcert-crl-sync.timer, edit its URL and paths first):
  systemctl enable --now fleetcert-crl-sync.timer`,
    )
    .action(async (options: { url: string; out: string; ca: string; reloadCommand?: string; timeout: string; json?: boolean }) => {
      const timeout = Number(options.timeout);
      if (!(timeout > 0 && timeout <= 600)) throw new FleetcertError('usage', `--timeout "${options.timeout}" must be 1-600 seconds`);
      const outcome = await syncCrl({
        url: options.url,
        out: options.out,
        issuers: options.ca,
        reloadCommand: options.reloadCommand,
        now: new Date(),
        timeoutMs: timeout * 1000,
      });
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, ...outcome }) + '\n'
          : outcome.changed
            ? `CRL #${outcome.crlNumber} installed in ${options.out} (was ${outcome.previous ?? 'none'})${outcome.reloaded ? '; broker reloaded' : ''}.\n`
            : `CRL #${outcome.crlNumber ?? '?'} is current (${outcome.why}); nothing changed.\n`,
      );
    });
  return crl;
}
