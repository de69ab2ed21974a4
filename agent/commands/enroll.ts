/** `fleetcert-agent enroll`: enroll once (no MQTT), then exit. For images, scripts and tests. */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { renewCertificate } from '../renewal/renew-certificate.js';
import { ensureEnrolled } from '../runtime/ensure-enrolled.js';
import { addCommonOptions, agentContext, secondsOption, type CommonOptions } from './options.js';
import { renewalParams } from './renewal-params.js';

export function enrollCommand(io: CliIo): Command {
  const command = new Command('enroll')
    .summary('enroll this device now, then exit')
    .description(
      'Enroll with the bootstrap file: generate the key on the device, send the CSR with the fleet token, ' +
        'verify and install the certificate. Waits for approval and retries transient failures until ' +
        '--timeout; a refusal only an operator can fix ends it at once (exit 6). Already enrolled: exit 0. ' +
        'Enrolled but expired: renews (grace window) or enrolls again with the bootstrap token.',
    )
    .addOption(new Option('--timeout <seconds>', 'give up after this long (exit 5)').default('600'))
    .addHelpText(
      'after',
      `
Examples:
  fleetcert-agent enroll                      # bootstrap file on the boot partition, server found over mDNS
  fleetcert-agent enroll --bootstrap ./fleetcert.json --enroll-url https://broker.local:8443 --timeout 60
  fleetcert-agent enroll --timeout 60 --json | jq -r '.code // "enrolled"'   # id_taken, token_expired, ... on refusal`,
    );
  return addCommonOptions(command).action(async (options: CommonOptions & { timeout: string }) => {
    const deadlineSeconds = secondsOption('--timeout', options.timeout);
    const { config, layout, log } = await agentContext(options);
    const result = await ensureEnrolled(config, layout, log, { giveUpOnOperator: true, deadlineSeconds });
    let live = result.live;
    let how = result.enrolledNow ? 'Enrolled' : 'Already enrolled';
    if (live.certificate.notAfter <= new Date()) {
      // Expired: renew (grace window), or enroll again with the token; never report it as fine.
      const renewed = await renewCertificate(await renewalParams(config, layout, result.endpoints, log));
      live = renewed.live;
      how = renewed.via === 'renewed' ? 'Renewed the expired certificate' : 'Enrolled again with the bootstrap token';
    }
    const info = describeCertificate(live.certificate);
    io.stdout(
      options.json
        ? JSON.stringify({
            ok: true,
            deviceId: result.deviceId,
            enrolledNow: result.enrolledNow || live !== result.live,
            serialNumber: info.serialNumber,
            notAfter: info.notAfter.toISOString(),
            files: live.files,
          }) + '\n'
        : `${how} as ${result.deviceId} (serial ${info.serialNumber}, valid until ${info.notAfter.toISOString()}).\n` +
            `Files: ${live.files.dir}/{key,cert,chain,ca}.pem\n`,
    );
  });
}
