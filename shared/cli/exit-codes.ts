/**
 * Exit codes of both command-line programs, documented in docs/CLI.md. Scripts and systemd
 * units branch on these, so they are stable.
 */
import { ERROR_CODES, type ErrorCode, type ExitClass } from '../errors.js';

export const EXIT = {
  ok: 0,
  /** Unexpected failure: a bug or an environment problem; the message says which. */
  failure: 1,
  /** The command line is wrong: unknown option, missing argument. */
  usage: 2,
  /** Input or configuration is wrong: a file, a passphrase, a PEM. Fix it and retry. */
  invalidInput: 3,
  /** Refused to overwrite or repeat something that already exists. */
  conflict: 4,
  /** Needs something that is not there yet (e.g. no CA initialised, not enrolled, server unreachable). */
  notReady: 5,
  /** The other side refused: the enrollment server said no, or the CA pin does not match. */
  refused: 6,
} as const satisfies Record<ExitClass | 'ok', number>;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code of a failure: its code's exit class, from the one table in shared/errors.ts. */
export function exitCodeFor(code: ErrorCode): ExitCode {
  return EXIT[ERROR_CODES[code].exit];
}

/**
 * The exit-code summary both programs print after --help. It names the reference where the
 * program runs (the Debian package installs docs/CLI.md there), not a path in a source tree
 * that a board or a broker host does not have.
 */
export function exitCodesHelp(program: 'fleetcert' | 'fleetcert-agent'): string {
  return (
    '\nExit codes: 0 ok, 1 unexpected failure, 2 usage, 3 invalid input, 4 already exists, 5 not ready or not found, 6 refused.\n' +
    `Docs: /usr/share/doc/${program}/cli.md (docs/CLI.md in the source)`
  );
}
