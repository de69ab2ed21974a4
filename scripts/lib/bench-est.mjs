// What the enrollment benchmarks (bench.mjs, bench-scale-out.mjs) share: a process's CPU from /proc,
// one simpleenroll on a fresh TLS connection, a `serve` started and stopped, and CSR bodies made
// ahead of the clock. Plain JS; the dist modules are imported when first needed (after ensureSetup built them).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { ROOT } from './setup.mjs';

export const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / HZ;
}

/** One simpleenroll with the fleet token on its own TLS connection: status, reply size, latency. */
export function postEnroll(port, ca, token, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        path: '/.well-known/est/simpleenroll',
        method: 'POST',
        ca,
        agent: false,
        headers: { 'content-type': 'application/pkcs10', authorization: `Basic ${Buffer.from(`d:${token}`).toString('base64')}` },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode, bytes, ms: performance.now() - started }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A node process whose first stdout line is JSON with its `port` (serve --json and the floor server). */
export function startProcess(args, extraNodeArgs = []) {
  const child = spawn(process.execPath, [...extraNodeArgs, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).port);
    });
    child.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}`)));
  });
  return { child, port };
}

export async function stopProcess(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** `count` base64 CSR bodies, each with its own key, made before anything is timed. */
export async function makeBodies(prefix, count) {
  const { buildCsr } = await import(join(ROOT, 'dist', 'shared', 'pki', 'csr.js'));
  const { generateKeyPair } = await import(join(ROOT, 'dist', 'shared', 'pki', 'key-pair.js'));
  const out = [];
  for (let i = 0; i < count; i += 1) {
    const csr = await buildCsr({ keys: await generateKeyPair(), commonName: `${prefix}-${String(i).padStart(6, '0')}` });
    out.push(Buffer.from(csr.der).toString('base64'));
  }
  return out;
}
