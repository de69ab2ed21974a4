#!/usr/bin/env node
/**
 * `fleetcert-agent`: runs on each device. The only place that sets the process exit code.
 */
import { Command } from 'commander';
import { exitCodesHelp } from '../shared/cli/exit-codes.js';
import { processIo, runCli } from '../shared/cli/run-cli.js';
import { VERSION } from '../shared/version.js';
import { discoverCommand } from './commands/discover.js';
import { enrollCommand } from './commands/enroll.js';
import { moveTokenCommand } from './commands/move-token.js';
import { needsRenewalCommand } from './commands/needs-renewal.js';
import { publishCommand } from './commands/publish.js';
import { renewCommand } from './commands/renew.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';

const program = new Command('fleetcert-agent')
  .description('fleetcert device agent: key on the device, zero-touch enrollment, mTLS to Mosquitto, renewal')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addCommand(runCommand(processIo))
  .addCommand(enrollCommand(processIo))
  .addCommand(renewCommand(processIo))
  .addCommand(needsRenewalCommand(processIo))
  .addCommand(statusCommand(processIo))
  .addCommand(publishCommand(processIo))
  .addCommand(discoverCommand(processIo))
  .addCommand(moveTokenCommand(processIo))
  .addHelpText('after', exitCodesHelp('fleetcert-agent'));

process.exitCode = await runCli(program, process.argv.slice(2));
