/** `fleetcert-agent enroll`: enroll once (no MQTT), then exit. For images, scripts and tests. */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { ensureEnrolled } from '../runtime/ensure-enrolled.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';

export function enrollCommand(io: CliIo): Command {
  const command = new Command('enroll')
    .summary('enroll this device now, then exit')
    .description(
      'Enroll with the bootstrap file: generate the key on the device, send the CSR with the fleet token,\n' +
        'verify and install the certificate. Waits for approval and retries transient failures until\n' +
        '--timeout; a refusal only an operator can fix ends it at once (exit 6). Already enrolled: exit 0.',
    )
    .addOption(new Option('--timeout <seconds>', 'give up after this long (exit 5)').default('600'));
  return addCommonOptions(command).action(async (options: CommonOptions & { timeout: string }) => {
    const { config, layout, log } = await agentContext(options);
    const result = await ensureEnrolled(config, layout, log, { giveUpOnOperator: true, deadlineSeconds: Number(options.timeout) });
    const info = describeCertificate(result.live.certificate);
    io.stdout(
      options.json
        ? JSON.stringify({ ok: true, deviceId: result.deviceId, enrolledNow: result.enrolledNow, serialNumber: info.serialNumber, notAfter: info.notAfter.toISOString(), files: result.live.files }) + '\n'
        : `${result.enrolledNow ? 'Enrolled' : 'Already enrolled'} as ${result.deviceId} (serial ${info.serialNumber}, valid until ${info.notAfter.toISOString()}).\nFiles: ${result.live.files.dir}/{key,cert,chain,ca}.pem\n`,
    );
  });
}
