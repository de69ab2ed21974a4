/** `fleetcert-agent publish`: send an MQTT message over the device's own mTLS connection (the outbox). */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { pathExists } from '../../shared/fs/path-exists.js';
import { enqueueMessage, MAX_MESSAGE_FILE_BYTES } from '../outbox/outbox.js';
import { addCommonOptions, agentContext, secondsOption, type CommonOptions } from './options.js';

interface PublishOptions extends CommonOptions {
  wait?: string;
}

export function publishCommand(io: CliIo): Command {
  const command = new Command('publish')
    .summary("publish a message as this device (through the running agent's connection)")
    .description(
      'Queue a message in the agent\'s outbox; the running agent ("fleetcert-agent run") publishes it at QoS 1 ' +
        'to devices/<device id>/<topic> over its mutual-TLS connection and deletes it once the broker has ' +
        'acknowledged it. Queued messages survive broker outages, certificate renewals and restarts (at least ' +
        'once, in order). Use this instead of connecting a second program with the device certificate: the ' +
        'broker allows one connection per device identity.',
    )
    .argument('<topic>', 'topic below devices/<device id>/, e.g. "telemetry/temperature"')
    .argument('[payload]', 'the message text; "-" or nothing reads standard input')
    .addOption(new Option('--wait <seconds>', 'wait until the broker has acknowledged it (exit 5 if not by then; it stays queued)'))
    .addHelpText(
      'after',
      `
Examples:
  fleetcert-agent publish telemetry/temperature 21.5
  vcgencmd measure_temp | fleetcert-agent publish telemetry/soc - --wait 10`,
    );
  return addCommonOptions(command).action(async (topic: string, payload: string | undefined, options: PublishOptions) => {
    const wait = options.wait === undefined ? undefined : secondsOption('--wait', options.wait);
    const { layout } = await agentContext(options);
    const body = payload === undefined || payload === '-' ? await readStdin() : Buffer.from(payload, 'utf8');
    const text = body.toString('utf8');
    const message = Buffer.from(text, 'utf8').equals(body)
      ? { topic, payload: text }
      : { topic, payload: body.toString('base64'), encoding: 'base64' as const };
    const file = await enqueueMessage(layout.outbox, message);
    let delivered = false;
    if (wait !== undefined) {
      const deadline = Date.now() + wait * 1000;
      while (!delivered && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        delivered = !(await pathExists(file));
      }
    }
    if (wait !== undefined && !delivered) {
      throw new FleetcertError('not_delivered', `not acknowledged within ${wait} s; it stays queued in ${layout.outbox}`, {
        hint: 'is "fleetcert-agent run" running and connected? see "journalctl -u fleetcert-agent"',
      });
    }
    io.stdout(
      options.json ? JSON.stringify({ ok: true, queued: file, delivered }) + '\n' : delivered ? 'Delivered.\n' : `Queued: ${file}\n`,
    );
  });
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_MESSAGE_FILE_BYTES) throw new FleetcertError('usage', `the message is larger than ${MAX_MESSAGE_FILE_BYTES / 1024} KiB`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
