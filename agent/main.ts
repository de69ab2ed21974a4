#!/usr/bin/env node
/**
 * `fleetcert-agent`: runs on each device. The only place that sets the process exit code.
 */
import { Command } from 'commander';
import { processIo, runCli } from '../shared/cli/run-cli.js';
import { VERSION } from '../shared/version.js';
import { statusCommand } from './commands/status.js';

const program = new Command('fleetcert-agent')
  .description('fleetcert device agent: key on the device, zero-touch enrollment, mTLS to Mosquitto, renewal')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addCommand(statusCommand(processIo))
  .addHelpText('after', '\nExit codes: 0 ok, 1 unexpected failure, 2 usage, 3 invalid input, 4 already exists, 5 not ready.\nDocs: docs/CLI.md');

process.exitCode = await runCli(program, process.argv.slice(2));
