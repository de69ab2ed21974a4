/**
 * Runs a commander program and turns every outcome into an exit code, without calling
 * process.exit (main.ts sets the code, so pending writes and cleanups finish). Errors are
 * told to a person on stderr, with the hint that says what to do; with --json a script also
 * gets `{"ok":false,"code","message"}` on stdout.
 */
import { CommanderError, type Command } from 'commander';
import { FleetcertError } from '../errors.js';
import { redact } from '../log/redact.js';
import { EXIT, exitCodeFor, type ExitCode } from './exit-codes.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const processIo: CliIo = {
  stdout: (text) => {
    ignoreClosedPipe();
    process.stdout.write(text);
  },
  stderr: (text) => void process.stderr.write(text),
};

let pipeGuarded = false;
/**
 * `fleetcert --help | head`: the reader is gone before all is written. That is the reader's choice,
 * not a failure: the rest of the output is dropped instead of ending in an unhandled EPIPE.
 */
function ignoreClosedPipe(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

/**
 * Ends a command with an exit code of its own: an answer that is not "ok" (needs-renewal's
 * "not due"), or an error reported as usual but with the code the command documents.
 */
export class CommandExit extends Error {
  constructor(
    readonly exitCode: number,
    readonly error?: unknown,
  ) {
    super(`exit ${exitCode}`);
  }
}

export async function runCli(program: Command, argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const configure = (command: Command): void => {
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
    command.commands.forEach(configure);
  };
  configure(program);
  const json = argv.includes('--json');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0. Commander has told the person on stderr already.
      if (err.exitCode === 0) return EXIT.ok;
      if (json) io.stdout(JSON.stringify({ ok: false, code: 'usage', message: redact(err.message.replace(/^error: /, '')) }) + '\n');
      return EXIT.usage;
    }
    if (err instanceof CommandExit) {
      if (err.error !== undefined) report(program.name(), err.error, json, io);
      return err.exitCode;
    }
    return report(program.name(), err, json, io);
  }
}

/** Tells a person (stderr) and, with --json, a script (stdout) what failed; returns the exit code of the error. */
function report(name: string, err: unknown, json: boolean, io: CliIo): ExitCode {
  if (err instanceof FleetcertError) {
    io.stderr(redact(`${name}: ${err.message}\n`));
    if (err.hint) io.stderr(redact(`${name}: hint: ${err.hint}\n`));
    if (json) io.stdout(JSON.stringify({ ok: false, code: err.reportedCode, message: redact(err.message) }) + '\n');
    return exitCodeFor(err.code);
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr(redact(`${name}: unexpected error: ${message}\n`));
  if (process.env.FLEETCERT_DEBUG) io.stderr(redact(`${(err as Error).stack ?? ''}\n`));
  if (json) io.stdout(JSON.stringify({ ok: false, code: 'internal', message: redact(message) }) + '\n');
  return EXIT.failure;
}
