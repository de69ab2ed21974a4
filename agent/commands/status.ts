/** `fleetcert-agent status`: is this device enrolled, with which certificate, until when. */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { CredentialStore } from '../credentials/credential-store.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';

export function statusCommand(io: CliIo): Command {
  const command = new Command('status')
    .summary("show this device's enrollment and certificate")
    .description(
      'Show whether this device is enrolled and what its live certificate says.\nExit code 0 when enrolled, 5 when not, 3 when the credential files are corrupt.',
    );
  return addCommonOptions(command).action(async (options: CommonOptions) => {
    const { layout, log } = await agentContext(options);
    const live = await new CredentialStore(layout, log).live();
    if (!live) {
      throw new FleetcertError('not_enrolled', `not enrolled: no certificate at ${layout.live.cert}`, {
        hint: 'the agent enrolls on its own once it has a bootstrap file; see docs/ARCHITECTURE.md',
      });
    }
    const info = describeCertificate(live.certificate);
    const now = new Date();
    const secondsLeft = Math.round((info.notAfter.getTime() - now.getTime()) / 1000);
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
        '',
      ].join('\n'),
    );
  });
}
