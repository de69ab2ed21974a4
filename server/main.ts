#!/usr/bin/env node
/**
 * `fleetcert`: the enrollment server and its admin commands. The only place that sets the
 * process exit code.
 */
import { Command } from 'commander';
import { exitCodesHelp } from '../shared/cli/exit-codes.js';
import { processIo, runCli } from '../shared/cli/run-cli.js';
import { VERSION } from '../shared/version.js';
import { adminCommand } from './commands/admin.js';
import { brokerConfigCommand } from './commands/broker-config.js';
import { crlCommand } from './commands/crl.js';
import { dbCommand } from './commands/db.js';
import { deviceCommand } from './commands/device.js';
import { imageCommand } from './commands/image.js';
import { initCommand } from './commands/init.js';
import { renewNowCommand } from './commands/renew-now.js';
import { serveCommand } from './commands/serve.js';
import { serviceCommand } from './commands/service.js';
import { tokenCommand } from './commands/token.js';

const program = new Command('fleetcert')
  .description('fleetcert server: CA, fleet tokens, device registry, EST enrollment, Mosquitto config')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addCommand(initCommand(processIo))
  .addCommand(serveCommand(processIo))
  .addCommand(tokenCommand(processIo))
  .addCommand(deviceCommand(processIo))
  .addCommand(brokerConfigCommand(processIo))
  .addCommand(crlCommand(processIo))
  .addCommand(renewNowCommand(processIo))
  .addCommand(adminCommand(processIo))
  .addCommand(imageCommand(processIo))
  .addCommand(dbCommand(processIo))
  .addCommand(serviceCommand(processIo))
  .addHelpText('after', exitCodesHelp('fleetcert'));

process.exitCode = await runCli(program, process.argv.slice(2));
