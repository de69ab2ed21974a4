/** Opening an initialised data directory for a command: the layout, the CA, the registry. */
import { readFile } from 'node:fs/promises';
import { pathExists } from '../../shared/fs/path-exists.js';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { dataLayout, type DataLayout } from '../config/data-layout.js';
import type { Registry } from '../registry/registry.js';
import { openSqliteRegistry } from '../registry/sqlite-registry.js';

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

/** The data directory's registry (SQLite today; the one place a command picks the backend). */
export function openRegistry(layout: DataLayout): Promise<Registry> {
  return openSqliteRegistry(layout.registry);
}

/** Runs `work` with the registry open, and closes it whatever happens. */
export async function withRegistry<T>(layout: DataLayout, work: (registry: Registry) => Promise<T>): Promise<T> {
  const registry = await openRegistry(layout);
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
