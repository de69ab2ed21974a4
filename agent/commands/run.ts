/**
 * `fleetcert-agent run`: the service. Enrolls if needed (waiting and retrying for as long as it
 * takes), connects to the broker over mutual TLS, and stays connected until SIGTERM/SIGINT.
 */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { VERSION } from '../../shared/version.js';
import { DeviceConnection } from '../mqtt/device-connection.js';
import { ensureEnrolled } from '../runtime/ensure-enrolled.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';

export function runCommand(_io: CliIo): Command {
  const command = new Command('run')
    .summary('run the agent: enroll if needed, connect over mTLS, stay connected')
    .description(
      'The service the systemd unit starts. First boot: waits for a sane clock, reads the bootstrap file,\n' +
        'finds the broker (mDNS) unless told, makes the key on the device, enrolls, installs. Then connects\n' +
        'to Mosquitto over mutual TLS and publishes its status. Logs JSON lines to stderr.',
    );
  return addCommonOptions(command).action(async (options: CommonOptions) => {
    const { config, layout, log } = await agentContext(options);
    log.info('starting', { version: VERSION, stateDir: layout.root });
    const enrolled = await ensureEnrolled(config, layout, log, { giveUpOnOperator: false });
    const connection = new DeviceConnection({
      broker: enrolled.endpoints.broker,
      deviceId: enrolled.deviceId,
      files: layout.live,
      agentVersion: VERSION,
      log: log.child('mqtt'),
    });
    await connection.start();
    // A service runs until it is told to stop, whatever its connection is doing meanwhile.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log.info('stopping', { signal });
    clearInterval(keepAlive);
    await connection.stop();
    log.info('stopped');
  });
}
