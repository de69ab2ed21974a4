/**
 * A real `fleetcert` server for tests: a data dir made with `fleetcert init`, tokens made with
 * `fleetcert token create`, and `fleetcert serve` as a separate process on a free loopback
 * port. The registry is read straight from its SQLite file, so "nothing was written" is
 * checked at the source, not through our own code.
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fleetcert, SERVER_MAIN } from './cli.js';
import { stopProcess } from './stop-process.js';

export interface FleetServer {
  readonly dir: string;
  readonly dataDir: string;
  readonly passphraseFile: string;
  readonly rootPem: string;
  readonly url: string;
  readonly port: number;
  /** The web console, when serve was started with --console-listen. */
  readonly consoleUrl: string | undefined;
  /** The serve process, for tests that kill it (-9) the way a power cut would. */
  readonly pid: number;
  /** Everything the server wrote to stderr so far (JSON log lines). */
  logs(): string;
  stop(): Promise<number | null>;
}

export async function initDataDir(dir: string): Promise<{ dataDir: string; passphraseFile: string }> {
  const dataDir = join(dir, 'data');
  const passphraseFile = join(dir, 'ca-passphrase');
  const res = await fleetcert(['init', '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--json']);
  if (res.code !== 0) throw new Error(`fleetcert init failed: ${res.stderr}`);
  return { dataDir, passphraseFile };
}

export async function startServer(
  dir: string,
  extraArgs: readonly string[] = [],
  existing?: { dataDir: string; passphraseFile: string },
  /** Runs serve behind this command line, e.g. `ip netns exec <ns>` (test/helpers/netns.ts). */
  prefix: readonly string[] = [],
): Promise<FleetServer> {
  const { dataDir, passphraseFile } = existing ?? (await initDataDir(dir));
  const [command, ...programArgs] = [...prefix, process.execPath];
  const child: ChildProcess = spawn(
    command,
    [
      ...programArgs,
      SERVER_MAIN,
      'serve',
      '--data-dir',
      dataDir,
      '--passphrase-file',
      passphraseFile,
      '--listen',
      '127.0.0.1:0',
      '--json',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = await new Promise<{ url: string; port: number; consoleUrl?: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`fleetcert serve did not start:\n${stderr}`)), 15_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; port: number; consoleUrl?: string });
      }
    });
    exited
      .then((code) => {
        clearTimeout(timer);
        reject(new Error(`fleetcert serve exited ${code}:\n${stderr}`));
      })
      .catch(reject);
  });
  return {
    dir,
    dataDir,
    passphraseFile,
    rootPem: await readFile(join(dataDir, 'ca', 'root.pem'), 'utf8'),
    url: ready.url,
    port: ready.port,
    consoleUrl: ready.consoleUrl,
    pid: child.pid!,
    logs: () => stderr,
    stop: () => stopProcess(child, exited, 'fleetcert serve'),
  };
}

/** One JSON log line of the server; tests find lines by their stable `event`, never by wording. */
export interface LogEvent {
  readonly event?: string;
  readonly level?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** Every JSON line the server has logged so far. */
export function serverEvents(server: Pick<FleetServer, 'logs'>): LogEvent[] {
  return server
    .logs()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogEvent);
}

/** Waits until the server has logged `event` (at least `count` times). */
export async function waitForEvent(
  server: Pick<FleetServer, 'logs'>,
  event: string,
  options: { count?: number; timeoutMs?: number } = {},
): Promise<LogEvent> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const found = serverEvents(server).filter((e) => e.event === event);
    if (found.length >= (options.count ?? 1)) return found.at(-1)!;
    if (Date.now() > deadline) throw new Error(`no "${event}" event within ${options.timeoutMs ?? 10_000} ms:\n${server.logs()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface TokenOptions {
  readonly name?: string;
  readonly args?: readonly string[];
}

/** `fleetcert token create --json`; returns the token text and its id. */
export async function createToken(dataDir: string, args: readonly string[] = []): Promise<{ token: string; id: string }> {
  const res = await fleetcert(['token', 'create', '--data-dir', dataDir, '--name', 'test', '--json', ...args]);
  if (res.code !== 0) throw new Error(`token create failed (${res.code}): ${res.stderr}`);
  const out = JSON.parse(res.stdout) as { token: string; id: string };
  return { token: out.token, id: out.id };
}

/** tokens, devices and certificates, every column: what "the registry is unchanged" compares. */
export function registrySnapshot(dataDir: string): Record<string, unknown[]> {
  const db = new Database(join(dataDir, 'registry.sqlite3'), { readonly: true });
  try {
    return {
      tokens: db.prepare('SELECT * FROM tokens ORDER BY id').all(),
      devices: db.prepare('SELECT * FROM devices ORDER BY id').all(),
      certificates: db.prepare('SELECT * FROM certificates ORDER BY serial').all(),
    };
  } finally {
    db.close();
  }
}

export function auditRows(
  dataDir: string,
): { seq: number; action: string; code: string | null; device_id: string | null; token_id: string | null }[] {
  const db = new Database(join(dataDir, 'registry.sqlite3'), { readonly: true });
  try {
    return db.prepare('SELECT seq, action, code, device_id, token_id FROM audit ORDER BY seq').all() as never;
  } finally {
    db.close();
  }
}

/** Test fixture only: edits a row the CLI cannot put in that state (e.g. an already expired token). */
export function sqlFixture(dataDir: string, sql: string, ...params: unknown[]): void {
  const db = new Database(join(dataDir, 'registry.sqlite3'));
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}
