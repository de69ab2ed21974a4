/** Options every server command shares, with their environment variables. */
import { Option } from 'commander';
import { FleetcertError } from '../../shared/errors.js';
import { DEFAULT_DATA_DIR } from '../config/data-layout.js';

export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'server data directory (CA, registry, TLS files)')
    .env('FLEETCERT_DATA_DIR')
    .default(DEFAULT_DATA_DIR);
}

export function jsonOption(): Option {
  return new Option('--json', 'print the result as JSON on stdout (for scripts)');
}

/** A count given on the command line (`--uses 200`): a whole number of 1 or more, else a usage error. */
export function positiveIntegerOption(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new FleetcertError('usage', `${name} "${value}" must be a whole number of 1 or more`);
  return n;
}
