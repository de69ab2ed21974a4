/**
 * `--database` / FLEETCERT_DATABASE: which registry a command uses. A file path (or nothing: the
 * data directory's registry.sqlite3) is SQLite; `postgres://user@host:port/db?sslmode=...` is
 * PostgreSQL. A password never comes from the command line or the URL (it would show in `ps`,
 * shell history and unit files): it comes from `--database-password-file`, else from the
 * PGPASSFILE / ~/.pgpass file as libpq reads it.
 * TLS: `sslmode=disable|require|verify-ca|verify-full` and `sslrootcert=<file>`, libpq's meaning.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { FleetcertError } from '../../shared/errors.js';
import type { PostgresConnection } from '../registry/postgres-connection.js';

export type DatabaseChoice =
  { readonly kind: 'sqlite'; readonly file: string } | { readonly kind: 'postgres'; readonly connection: PostgresConnection };

const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = (typeof SSL_MODES)[number];

export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

/** Parses `--database`; `defaultFile` is the data directory's SQLite file. */
export async function databaseChoice(
  database: string | undefined,
  passwordFile: string | undefined,
  defaultFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DatabaseChoice> {
  if (database === undefined || database === '') {
    if (passwordFile !== undefined) throw usage('--database-password-file is only for a postgres:// --database');
    return { kind: 'sqlite', file: defaultFile };
  }
  if (!isPostgresUrl(database)) {
    if (passwordFile !== undefined) throw usage('--database-password-file is only for a postgres:// --database');
    return { kind: 'sqlite', file: database };
  }
  return { kind: 'postgres', connection: await postgresConnection(database, passwordFile, env) };
}

export async function postgresConnection(
  url: string,
  passwordFile: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<PostgresConnection> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usage('--database is not a valid postgres:// URL');
  }
  if (parsed.password !== '') {
    throw new FleetcertError('usage', 'refusing a --database URL with a password in it', {
      hint: 'remove it from the URL (it would show in ps and shell history) and put it in a 0600 file given with --database-password-file',
    });
  }
  const user = decodeURIComponent(parsed.username) || env.PGUSER || 'postgres';
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost';
  const port = parsed.port ? Number(parsed.port) : 5432;
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || user;
  for (const key of parsed.searchParams.keys()) {
    if (!['sslmode', 'sslrootcert', 'application_name'].includes(key)) throw usage(`--database: unsupported URL parameter "${key}"`);
  }
  const sslmode = (parsed.searchParams.get('sslmode') ?? 'disable') as SslMode;
  if (!SSL_MODES.includes(sslmode)) throw usage(`--database: sslmode must be one of ${SSL_MODES.join(', ')}`);
  const rootCert = parsed.searchParams.get('sslrootcert') ?? undefined;
  const display = `postgres://${user}@${parsed.host}/${database}${sslmode === 'disable' ? '' : `?sslmode=${sslmode}`}`;
  const password =
    passwordFile !== undefined ? await readPasswordFile(passwordFile) : await fromPgpass({ host, port, database, user }, env);
  return {
    display,
    config: {
      host,
      port,
      database,
      user,
      ...(password === undefined ? {} : { password }),
      application_name: parsed.searchParams.get('application_name') ?? 'fleetcert',
      ssl: await tlsOptions(sslmode, rootCert, host),
      connectionTimeoutMillis: 10_000,
      // A server that vanishes mid-transaction (network cut, not a clean exit) must not hold a
      // device's row lock or the CRL lock for the hours TCP takes to notice: the database ends
      // such a transaction after 30 s idle, and no statement of ours runs longer than that.
      keepAlive: true,
      idle_in_transaction_session_timeout: 30_000,
      statement_timeout: 30_000,
    },
  };
}

async function tlsOptions(mode: SslMode, rootCert: string | undefined, host: string): Promise<false | ConnectionOptions> {
  if (mode === 'disable') {
    if (rootCert !== undefined) throw usage('--database: sslrootcert needs sslmode=verify-ca or verify-full');
    return false;
  }
  if (mode === 'require') return { rejectUnauthorized: false };
  if (rootCert === undefined) throw usage(`--database: sslmode=${mode} needs sslrootcert=<CA file>`);
  let ca: string;
  try {
    ca = await readFile(rootCert, 'utf8');
  } catch (err) {
    throw new FleetcertError('config_invalid', `cannot read the database CA file ${rootCert}`, { cause: err });
  }
  // verify-ca: the chain, not the name (libpq's meaning); verify-full: both.
  return mode === 'verify-full' ? { ca, servername: host } : { ca, checkServerIdentity: () => undefined };
}

async function readPasswordFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FleetcertError('config_invalid', `cannot read the database password file ${file}: ${code}`, { cause: err });
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '' || password.includes('\n'))
    throw new FleetcertError('config_invalid', `the database password file ${file} must hold one line`);
  return password;
}

/** libpq's password file: `host:port:database:user:password` lines, `*` matches anything, `\:` and `\\` escaped. */
async function fromPgpass(
  target: { host: string; port: number; database: string; user: string },
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  const file = env.PGPASSFILE ?? join(env.HOME ?? homedir(), '.pgpass');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const wanted = [target.host, String(target.port), target.database, target.user];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const fields = line.split(/(?<!\\):/).map((f) => f.replace(/\\([:\\])/g, '$1'));
    if (fields.length < 5) continue;
    if (wanted.every((value, i) => fields[i] === '*' || fields[i] === value)) return fields.slice(4).join(':');
  }
  return undefined;
}

function usage(message: string): FleetcertError {
  return new FleetcertError('usage', message);
}
