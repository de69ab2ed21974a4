/**
 * Exit codes of both command-line programs, documented in docs/CLI.md. Scripts and systemd
 * units branch on these, so they are stable.
 */
import type { ErrorCode } from '../errors.js';

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
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitCodeFor(code: ErrorCode): ExitCode {
  switch (code) {
    case 'usage':
      return EXIT.usage;
    case 'ca_exists':
    case 'file_exists':
    case 'renewal_in_progress':
      return EXIT.conflict;
    case 'ca_missing':
    case 'not_enrolled':
    case 'device_not_found':
    case 'broker_not_configured':
    case 'token_not_found':
      return EXIT.notReady;
    case 'internal':
    case 'broker_reload_failed':
    case 'broker_admin_failed':
      return EXIT.failure;
    case 'bootstrap_missing':
    case 'discovery_failed':
    case 'server_unreachable':
    case 'response_invalid':
    case 'clock_not_set':
    case 'not_delivered':
      return EXIT.notReady;
    case 'enrollment_refused':
    case 'ca_pin_mismatch':
      return EXIT.refused;
    default:
      return EXIT.invalidInput;
  }
}

/** The exit-code summary both programs print after --help. */
export const EXIT_CODES_HELP =
  '\nExit codes: 0 ok, 1 unexpected failure, 2 usage, 3 invalid input, 4 already exists, 5 not ready or not found, 6 refused.\nDocs: docs/CLI.md';
