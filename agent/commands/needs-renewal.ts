/**
 * `fleetcert-agent needs-renewal`: is the certificate due, as an exit code, for systemd
 * `ExecCondition=` and cron (smallstep's `step certificate needs-renewal`, thin-edge.io's
 * `tedge cert needs-renewal`). The same rule as the service and `renew`.
 */
import { Command, Option } from 'commander';
import { CommandExit, type CliIo } from '../../shared/cli/run-cli.js';
import { isFleetcertError } from '../../shared/errors.js';
import { CredentialStore } from '../credentials/credential-store.js';
import { endpointsFromInfo, readBrokerInfo } from '../discovery/endpoints.js';
import { checkRenewalDue } from '../renewal/check-renewal-due.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';

/** Documented in docs/CLI.md and --help: systemd runs the unit on 0, skips it on 1-254, fails it on 255. */
export const NEEDS_RENEWAL_EXIT = { due: 0, notDue: 1, notEnrolled: 5, error: 255 } as const;

const HELP = `
Exit codes (for ExecCondition= and scripts):
  0    due: renew now
  1    not due yet
  5    not enrolled (no certificate yet)
  255  error (e.g. corrupt credential files, unreadable state directory)

Examples:
  # systemd: a timer starts this service; it renews only when due
  ExecCondition=/usr/bin/fleetcert-agent needs-renewal
  ExecStart=/usr/bin/fleetcert-agent renew --force
  # cron
  fleetcert-agent needs-renewal && fleetcert-agent renew --force
  fleetcert-agent needs-renewal --json   # {"due":false,"dueFrom":"...","serial":"...","notAfter":"..."}
`;

export function needsRenewalCommand(io: CliIo): Command {
  const command = new Command('needs-renewal')
    .summary('exit 0 if the certificate is due for renewal, 1 if not')
    .description(
      "Decide whether the live certificate is due for renewal, by the service's rule: a point in the server's " +
        'renewal window (asked for over mutual TLS unless --offline), else in the default window near 2/3 of the ' +
        'lifetime, the point fixed by the serial. Prints nothing unless --json.',
    )
    .addOption(new Option('--offline', 'do not ask the server for its renewal window (the default window applies)'))
    .addHelpText('after', HELP);
  return addCommonOptions(command).action(async (options: CommonOptions & { offline?: boolean }) => {
    const { layout, log } = await agentContext(options);
    try {
      const info = options.offline ? undefined : await readBrokerInfo(layout.brokerInfo);
      const endpoint = info ? endpointsFromInfo(info).enroll : undefined;
      const check = await checkRenewalDue(new CredentialStore(layout, log), endpoint, log, new Date());
      if (options.json) {
        io.stdout(
          JSON.stringify({
            due: check.due,
            dueFrom: check.dueFrom.toISOString(),
            serial: check.serial,
            notAfter: check.live.certificate.notAfter.toISOString(),
          }) + '\n',
        );
      }
      if (!check.due) throw new CommandExit(NEEDS_RENEWAL_EXIT.notDue);
    } catch (err) {
      if (err instanceof CommandExit) throw err;
      throw new CommandExit(isFleetcertError(err, 'not_enrolled') ? NEEDS_RENEWAL_EXIT.notEnrolled : NEEDS_RENEWAL_EXIT.error, err);
    }
  });
}
