#!/usr/bin/env node
/**
 * `fleetcert`: the enrollment server and its admin commands. The only place that sets the
 * process exit code.
 */
import { Command } from 'commander';
import { processIo, runCli } from '../shared/cli/run-cli.js';
import { VERSION } from '../shared/version.js';
import { deviceCommand } from './commands/device.js';
import { initCommand } from './commands/init.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';

const program = new Command('fleetcert')
  .description('fleetcert server: CA, fleet tokens, device registry, EST enrollment, Mosquitto config')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addCommand(initCommand(processIo))
  .addCommand(serveCommand(processIo))
  .addCommand(tokenCommand(processIo))
  .addCommand(deviceCommand(processIo))
  .addHelpText('after', '\nExit codes: 0 ok, 1 unexpected failure, 2 usage, 3 invalid input, 4 already exists, 5 not ready.\nDocs: docs/CLI.md');

process.exitCode = await runCli(program, process.argv.slice(2));
