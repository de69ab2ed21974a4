/** `fleetcert-agent status`: is this device enrolled, with which certificate, until when. */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { locateToken } from '../config/bootstrap-token.js';
import { CredentialStore } from '../credentials/credential-store.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';

export function statusCommand(io: CliIo): Command {
  const command = new Command('status')
    .summary("show this device's enrollment and certificate")
    .description(
      'Show whether this device is enrolled, what its live certificate says, a renewed certificate waiting to be proven ' +
        'at the broker (two-phase renewal), if any, and where the bootstrap token lives.\n' +
        'Exit code 0 when enrolled, 5 when not, 3 when the credential files are corrupt.',
    )
    .addHelpText(
      'after',
      `
Examples:
  fleetcert-agent status
  fleetcert-agent status --json | jq -r .notAfter`,
    );
  return addCommonOptions(command).action(async (options: CommonOptions) => {
    const { config, layout, log } = await agentContext(options);
    const live = await new CredentialStore(layout, log).requireLive();
    const info = describeCertificate(live.certificate);
    const token = await locateToken(layout, config.bootstrapFiles);
    const now = new Date();
    const secondsLeft = Math.round((info.notAfter.getTime() - now.getTime()) / 1000);
    // A renewed certificate not yet proven at the broker (renewal_unproven): the next attempt proves it.
    const candidate = live.candidate && {
      serialNumber: describeCertificate(live.candidate.certificate).serialNumber,
      generation: live.candidate.generation,
    };
    if (options.json) {
      io.stdout(
        JSON.stringify({
          ok: true,
          enrolled: true,
          stateDir: layout.root,
          deviceId: info.subjectCommonName,
          serialNumber: info.serialNumber,
          notBefore: info.notBefore.toISOString(),
          notAfter: info.notAfter.toISOString(),
          secondsLeft,
          files: layout.live,
          token,
          candidate: candidate ?? null,
        }) + '\n',
      );
      return;
    }
    io.stdout(
      [
        `Enrolled as ${info.subjectCommonName ?? '(no CN)'}`,
        `  serial      ${info.serialNumber}`,
        `  valid until ${info.notAfter.toISOString()} (${secondsLeft > 0 ? `${(secondsLeft / 86400).toFixed(1)} days left` : 'EXPIRED'})`,
        `  issuer      ${info.issuer}`,
        `  files       ${layout.live.dir}/{key,cert,chain,ca}.pem`,
        `  token       ${TOKEN_PLACES[token.location]}${token.paths.length > 0 ? ` (${token.paths.join(', ')})` : ''}`,
        ...(candidate
          ? [`  renewed     serial ${candidate.serialNumber} (generation ${candidate.generation}), not yet proven at the broker`]
          : []),
        '',
      ].join('\n'),
    );
  });
}

const TOKEN_PLACES = {
  boot_partition: 'still on the boot partition, readable by anyone holding the card',
  state_dir: 'in the state directory only',
  none: 'none left (a certificate past renewal needs a new bootstrap file)',
} as const;
