/** Options every server command shares, with their environment variables. */
import { Option } from 'commander';
import { FleetcertError } from '../../shared/errors.js';
import { DEFAULT_DATA_DIR } from '../config/data-layout.js';

export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'server data directory (CA, registry, TLS files)')
    .env('FLEETCERT_DATA_DIR')
    .default(DEFAULT_DATA_DIR);
}

/** Which registry: the data directory's SQLite file by default, or a postgres:// URL (several servers on one database). */
export function databaseOptions(): Option[] {
  return [
    new Option(
      '--database <url>',
      'registry database: postgres://user@host:port/db[?sslmode=verify-full&sslrootcert=FILE] (default: SQLite in --data-dir)',
    ).env('FLEETCERT_DATABASE'),
    new Option(
      '--database-password-file <file>',
      'file holding the PostgreSQL password (else PGPASSFILE / ~/.pgpass); never put it in the URL',
    ).env('FLEETCERT_DATABASE_PASSWORD_FILE'),
  ];
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

/** `--passphrase-file`: the file holding the CA key's passphrase (never the passphrase itself on the command line). */
export function caPassphraseOption(purpose?: string): Option {
  return new Option('--passphrase-file <file>', `file holding the CA key passphrase${purpose ? ` (${purpose})` : ''}`).env(
    'FLEETCERT_CA_PASSPHRASE_FILE',
  );
}
