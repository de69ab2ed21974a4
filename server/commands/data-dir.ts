/** Opening an initialised data directory for a command: the layout, the CA, the registry. */
import { readFile } from 'node:fs/promises';
import { pathExists } from '../../shared/fs/path-exists.js';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { dataLayout, type DataLayout } from '../config/data-layout.js';
import { databaseChoice } from '../config/database-url.js';
import { openPostgresRegistry } from '../registry/postgres-registry.js';
import type { Registry } from '../registry/registry.js';
import { openSqliteRegistry } from '../registry/sqlite-registry.js';

/** `--database` and its password file, as databaseOptions() reads them. */
export interface DatabaseOptions {
  readonly database?: string | undefined;
  readonly databasePasswordFile?: string | undefined;
}

export async function initialisedLayout(dataDir: string): Promise<DataLayout> {
  const layout = dataLayout(resolve(dataDir));
  if (!(await pathExists(layout.rootCert))) {
    throw new FleetcertError('ca_missing', `no fleetcert CA in ${layout.root}`, {
      hint: `run "fleetcert init --data-dir ${layout.root}" first, or point --data-dir / FLEETCERT_DATA_DIR at the right directory`,
    });
  }
  return layout;
}

export async function readRootCertificate(layout: DataLayout): Promise<Certificate> {
  return readCertificate(await readFile(layout.rootCert, 'utf8'));
}

/**
 * The registry a command uses (the one place a command picks the backend): `--database`, else
 * FLEETCERT_DATABASE (commands without the option: device, token, renew-now, broker-config), else
 * the data directory's SQLite file. A PostgreSQL schema that is behind is refused (fleetcert db migrate).
 */
export async function openRegistry(layout: DataLayout, options: DatabaseOptions = databaseFromEnvironment()): Promise<Registry> {
  const choice = await databaseChoice(options.database, options.databasePasswordFile, layout.registry);
  return choice.kind === 'sqlite' ? openSqliteRegistry(choice.file) : openPostgresRegistry(choice.connection);
}

function databaseFromEnvironment(): DatabaseOptions {
  return { database: process.env.FLEETCERT_DATABASE, databasePasswordFile: process.env.FLEETCERT_DATABASE_PASSWORD_FILE };
}

/** Runs `work` with the registry open, and closes it whatever happens. */
export async function withRegistry<T>(layout: DataLayout, work: (registry: Registry) => Promise<T>, options?: DatabaseOptions): Promise<T> {
  const registry = await openRegistry(layout, options);
  try {
    return await work(registry);
  } finally {
    await registry.close();
  }
}

/** Who ran an admin command, for the audit log. */
export function operatorSource(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? 'unknown');
  }
  return `cli:${process.env.SUDO_USER ? `${process.env.SUDO_USER} (sudo)` : user}`;
}
