/** Options every server command shares, with their environment variables. */
import { Option } from 'commander';
import { DEFAULT_DATA_DIR } from '../config/data-layout.js';

export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'server data directory (CA, registry, TLS files)')
    .env('FLEETCERT_DATA_DIR')
    .default(DEFAULT_DATA_DIR);
}

export function jsonOption(): Option {
  return new Option('--json', 'print the result as JSON on stdout (for scripts)');
}
