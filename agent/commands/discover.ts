/** `fleetcert-agent discover`: look for the fleetcert broker on the local network (mDNS). */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { createLogger } from '../../shared/log/logger.js';
import { discoverBroker } from '../discovery/discover-broker.js';
import { secondsOption } from './options.js';

export function discoverCommand(io: CliIo): Command {
  return new Command('discover')
    .summary('find the broker and enrollment endpoint over mDNS')
    .description('Browse for _secure-mqtt._tcp with a fleetcert TXT record. Exit 5 when nothing answers.')
    .addOption(new Option('--timeout <seconds>', 'how long to listen').default('5'))
    .addOption(new Option('--json', 'print the result as JSON on stdout'))
    .addHelpText(
      'after',
      `
Examples:
  fleetcert-agent discover
  fleetcert-agent discover --timeout 15 --json   # {"ok":true,"host":"broker.local",...}`,
    )
    .action(async (options: { timeout: string; json?: boolean }) => {
      const found = await discoverBroker({
        timeoutSeconds: secondsOption('--timeout', options.timeout),
        attempts: 1,
        log: createLogger({ namespace: 'fleetcert-agent', level: 'warn' }),
      });
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, ...found }) + '\n'
          : `Found ${found.host} (${found.address}): broker port ${found.brokerPort}, enrollment https://${found.address}:${found.enrollPort}\n`,
      );
    });
}
