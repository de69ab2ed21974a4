#!/usr/bin/env node
// Enrollment throughput of the real server: N devices enroll with one fleet token against
// `fleetcert serve` (a separate process) over HTTPS, each on a fresh TLS connection as a real
// device would, C at a time. Device keys and CSRs are made before the clock starts (each
// board makes its own). Reports wall time, enrollments/s, latency percentiles and the
// server's CPU time per enrollment (from /proc), and checks every certificate came back.
// Usage: node scripts/bench-enroll.mjs [--devices 500] [--concurrency 16]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl'] });

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const DEVICES = arg('devices', 500);
const CONCURRENCY = arg('concurrency', 16);
const cli = join(ROOT, 'dist', 'server', 'main.js');
const { buildCsr } = await import(join(ROOT, 'dist', 'shared', 'pki', 'csr.js'));
const { generateKeyPair } = await import(join(ROOT, 'dist', 'shared', 'pki', 'key-pair.js'));

const dir = mkdtempSync(join(tmpdir(), 'fleetcert-bench-'));
const data = join(dir, 'data');
const pass = join(dir, 'pass');
const run = (args) => {
  const res = spawnSync(process.execPath, [cli, ...args, '--data-dir', data], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`fleetcert ${args[0]}: ${res.stderr}`);
  return res.stdout;
};

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
}

function enroll(port, ca, token, body) {
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
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let server;
try {
  run(['init', '--passphrase-file', pass, '--json']);
  const token = JSON.parse(run(['token', 'create', '--name', 'bench', '--uses', String(DEVICES), '--json'])).token;
  const ca = readFileSync(join(data, 'ca', 'root.pem'), 'utf8');

  process.stdout.write(`making ${DEVICES} device keys and CSRs (not timed)...\n`);
  const bodies = [];
  for (let i = 0; i < DEVICES; i += 1) {
    const csr = await buildCsr({ keys: await generateKeyPair(), commonName: `bench-${String(i).padStart(5, '0')}` });
    bodies.push(Buffer.from(csr.der).toString('base64'));
  }

  // FLEETCERT_BENCH_NODE_ARGS: extra node flags for the server only, e.g. --cpu-prof.
  const nodeArgs = (process.env.FLEETCERT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  server = spawn(
    process.execPath,
    [...nodeArgs, cli, 'serve', '--data-dir', data, '--passphrase-file', pass, '--listen', '127.0.0.1:0', '--json', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise((resolve) => {
    let out = '';
    server.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).port);
    });
  });

  const ticksBefore = cpuTicks(server.pid);
  const latencies = [];
  const statuses = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const r = await enroll(port, ca, token, body);
        latencies.push(r.ms);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const ticks = cpuTicks(server.pid) - ticksBefore;
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
  const devices = JSON.parse(run(['device', 'list', '--json'])).devices.length;

  const result = {
    devices: DEVICES,
    concurrency: CONCURRENCY,
    statuses,
    registeredDevices: devices,
    wallSeconds: Number(seconds.toFixed(2)),
    enrollmentsPerSecond: Number((DEVICES / seconds).toFixed(0)),
    latencyMs: { p50: Number(pct(50)), p95: Number(pct(95)), p99: Number(pct(99)) },
    serverCpuMsPerEnrollment: Number((((ticks / hz) * 1000) / DEVICES).toFixed(2)),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  if (statuses[200] !== DEVICES || devices !== DEVICES) {
    process.stderr.write('bench: not every device got its certificate\n');
    process.exitCode = 1;
  }
} finally {
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
