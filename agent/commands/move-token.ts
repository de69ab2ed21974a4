/**
 * `fleetcert-agent move-token`: take the fleet token off the boot partition once the device is
 * enrolled. The service does this itself when it can write there; on Raspberry Pi OS the FAT boot
 * partition belongs to root while the service runs as its own user, so the unit runs this command
 * privileged (`ExecStartPost=+`) after the service reported ready (enrolled and connected).
 */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { CredentialStore } from '../credentials/credential-store.js';
import { moveLeftoverToken } from '../runtime/move-token-off-boot.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';

const HELP = `
Exit 0 whether or not there was anything to move: before the first enrollment the token stays
where it is (the device needs it), and a read-only boot partition is reported, not fatal.

Examples:
  # what the fleetcert-agent unit runs, as root, once the agent is ready
  fleetcert-agent move-token
  fleetcert-agent move-token --json   # {"ok":true,"result":"moved"}
`;

export function moveTokenCommand(io: CliIo): Command {
  const command = new Command('move-token')
    .summary('move the fleet token from the boot partition into the state directory (after enrollment)')
    .description(
      'Once this device is enrolled, copy the bootstrap file into the 0600 state copy (owned like the state ' +
        'directory) and rewrite the boot-partition file without its token (write new, fsync, rename). A file ' +
        'that changed or does not parse is left as it is. Before the first enrollment nothing moves.',
    )
    .addHelpText('after', HELP);
  return addCommonOptions(command).action(async (options: CommonOptions) => {
    const { config, layout, log } = await agentContext(options);
    const enrolled = (await new CredentialStore(layout, log).live()) !== undefined;
    const result = enrolled ? await moveLeftoverToken(config.bootstrapFiles, layout, log) : 'not_enrolled';
    const text: Record<typeof result, string> = {
      moved: 'The token left the boot partition.',
      none: 'No token on the boot partition.',
      not_enrolled: 'Not enrolled yet: the token stays on the boot partition until the first enrollment.',
      kept_in_state: 'The token is in the state directory only.',
      boot_read_only: 'The boot partition is read-only: the token stays readable there (see the log).',
      boot_not_writable: 'This user may not rewrite the bootstrap file: run it as root (sudo fleetcert-agent move-token).',
      boot_changed: 'The bootstrap file changed since it was read: left as it is.',
      failed: 'The token could not be moved (see the log).',
    };
    io.stdout(options.json ? JSON.stringify({ ok: true, result }) + '\n' : `${text[result]}\n`);
  });
}
