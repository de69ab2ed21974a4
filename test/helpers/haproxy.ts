/**
 * Debian's haproxy in front of several `fleetcert serve` instances, in TCP mode: TLS passes through
 * untouched, so a device's client certificate still reaches fleetcert (simplereenroll is mutual
 * TLS). The same configuration as docs/SCALING.md, on a free loopback port; stopped after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { stopProcess } from './stop-process.js';

export interface LoadBalancer {
  readonly port: number;
  logs(): string;
  stop(): Promise<void>;
}

/** The configuration docs/SCALING.md shows, for these backend ports. */
export function haproxyConfig(port: number, backends: readonly number[]): string {
  return [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  retries 2',
    '  option redispatch',
    'frontend est',
    `  bind 127.0.0.1:${port}`,
    '  default_backend fleetcert',
    'backend fleetcert',
    '  balance roundrobin',
    // A TCP check every second: an instance killed -9 leaves the rotation within ~2 s.
    '  default-server check inter 1s fall 2 rise 2',
    ...backends.map((p, i) => `  server serve${i + 1} 127.0.0.1:${p}`),
    '',
  ].join('\n');
}

export async function startHaproxy(dir: string, backends: readonly number[]): Promise<LoadBalancer> {
  const port = await freePort();
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, haproxyConfig(port, backends));
  const child: ChildProcess = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (c: Buffer) => (logs += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, logs: () => logs, stop: async () => void (await stopProcess(child, exited, 'haproxy')) };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
