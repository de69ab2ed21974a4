/**
 * A throwaway PostgreSQL cluster for tests, started as the test harness starts Mosquitto: Debian's
 * binaries (/usr/lib/postgresql/15/bin), a data directory in a temp dir, a free loopback port,
 * password (SCRAM) authentication over TCP as a real install would have, stopped afterwards.
 * initdb refuses to run as root, so as root the cluster runs as the `postgres` user (setpriv).
 * One cluster per test file; one database per test (`createDatabase`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './ports.js';
import { stopProcess } from './stop-process.js';

const BIN = '/usr/lib/postgresql/15/bin';
const SUPERUSER = 'postgres';

export interface PostgresCluster {
  readonly port: number;
  /** With `tls: true`: the CA that signed the server's certificate (SAN 127.0.0.1 and localhost). */
  readonly caFile: string | undefined;
  /** The superuser's password, in a 0600 file (what `--database-password-file` reads). */
  readonly passwordFile: string;
  /** A new, empty database; its URL carries no password. */
  createDatabase(name?: string): Promise<string>;
  logs(): string;
  stop(): Promise<void>;
}

let databases = 0;

export interface PostgresOptions {
  /** false turns fsync off (tests that do not pull the plug on PostgreSQL itself). */
  readonly durable?: boolean;
  /** Accept TLS connections with a certificate from a throwaway CA (`caFile`). */
  readonly tls?: boolean;
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetcert-pg-'));
  const runAs = runAsArgs();
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const superPwFile = join(dir, 'initdb-pw');
  const passwordFile = join(dir, 'password');
  await mkdir(sockets);
  await mkdir(data, { mode: 0o700 });
  await writeFile(superPwFile, password + '\n', { mode: 0o600 });
  await writeFile(passwordFile, password + '\n', { mode: 0o600 });
  if (runAs.uid !== undefined) {
    await chmod(dir, 0o755);
    for (const path of [data, sockets, superPwFile]) await chown(path, runAs.uid, runAs.gid!);
  }
  const init = spawnSync(
    runAs.command,
    [
      ...runAs.prefix,
      `${BIN}/initdb`,
      '-D',
      data,
      '-U',
      SUPERUSER,
      `--pwfile=${superPwFile}`,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--no-instructions',
    ],
    { encoding: 'utf8', cwd: dir },
  );
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}\n${init.stderr}`);
  const tls = options.tls ? await makeServerCertificate(dir, runAs) : undefined;
  const port = await freePort();
  const settings = [
    ...(tls ? ['ssl=on', `ssl_cert_file=${tls.cert}`, `ssl_key_file=${tls.key}`] : []),
    `listen_addresses=127.0.0.1`,
    `port=${port}`,
    `unix_socket_directories=${sockets}`,
    `max_connections=200`,
    `shared_buffers=32MB`,
    ...(options.durable === false ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
  ].flatMap((s) => ['-c', s]);
  const child: ChildProcess = spawn(runAs.command, [...runAs.prefix, `${BIN}/postgres`, '-D', data, ...settings], {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: dir,
  });
  let logs = '';
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitReady(port, password, exited, () => logs);
  const admin = (database = 'postgres') => new Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database });
  return {
    port,
    caFile: tls?.ca,
    passwordFile,
    logs: () => logs,
    async createDatabase(name = `fleetcert_${process.pid}_${(databases += 1)}`) {
      const client = admin();
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      // SIGTERM is PostgreSQL's "smart" shutdown (waits for clients); SIGINT is "fast".
      if (child.exitCode === null) child.kill('SIGINT');
      await stopProcess(child, exited, 'postgres');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A CA and a server certificate for 127.0.0.1/localhost, made with openssl; the key readable by the cluster's user only. */
async function makeServerCertificate(
  dir: string,
  runAs: { uid?: number; gid?: number },
): Promise<{ ca: string; cert: string; key: string }> {
  const [ca, caKey, cert, key, ext] = ['ca.pem', 'ca.key', 'server.pem', 'server.key', 'server.ext'].map((f) => join(dir, f)) as [
    string,
    string,
    string,
    string,
    string,
  ];
  const openssl = (args: string[]) => {
    const res = spawnSync('openssl', args, { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-subj', '/CN=test database CA', '-days', '2']);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', '-new', ...ec, '-keyout', key, '-out', join(dir, 'server.csr'), '-subj', '/CN=localhost']);
  openssl([
    'x509',
    '-req',
    '-in',
    join(dir, 'server.csr'),
    '-CA',
    ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  await chmod(key, 0o600);
  if (runAs.uid !== undefined) await chown(key, runAs.uid, runAs.gid!);
  return { ca, cert, key };
}

function runAsArgs(): { command: string; prefix: string[]; uid?: number; gid?: number } {
  if (userInfo().uid !== 0) return { command: 'env', prefix: [] };
  const id = spawnSync('id', ['-u', SUPERUSER], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', SUPERUSER], { encoding: 'utf8' });
  if (id.status !== 0) throw new Error('running as root, and there is no "postgres" user to run the test cluster as');
  const uid = Number(id.stdout.trim());
  const group = Number(gid.stdout.trim());
  return { command: 'setpriv', prefix: [`--reuid=${uid}`, `--regid=${group}`, '--init-groups', '--'], uid, gid: group };
}

async function waitReady(port: number, password: string, exited: Promise<number | null>, logs: () => string): Promise<void> {
  let dead = false;
  exited.then(
    () => (dead = true),
    () => (dead = true),
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (dead) throw new Error(`postgres exited:\n${logs()}`);
    const client = new Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres' });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections:\n${logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
