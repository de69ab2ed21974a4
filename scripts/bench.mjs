#!/usr/bin/env node
// Issue 15 item 4: one command, one box, side by side:
//  (a) the transport floor: a bare Node HTTPS server (scripts/lib/floor-server.mjs) with serve's
//      TLS certificate, key type and settings, answering a fixed body of a real reply's size;
//  (b) fleetcert serve (the fast issuer, the default): enrollments/s and server CPU per enrollment;
//  (c) the same server with the reference issuer (--issuer peculiar);
//  (d) the seeds' method: one `openssl x509 -req` per device (as many at a time as there are cores).
// (a)-(c) are driven by the same client: a fresh TLS connection per device (full handshake, no
// session reuse), `--concurrency` at a time, a real P-256 CSR each (made before the clock starts).
// Server CPU is utime+stime of the server process from /proc/<pid>/stat before and after.
// Every enrollment must be a 200 and every device must be in the registry afterwards.
// Usage: npm run bench -- [--devices 1000] [--concurrency 16] [--rounds 1] [--seed-devices 200]
//        FLEETCERT_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the (b) server.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, makeBodies, postEnroll, startProcess, stopProcess } from './lib/bench-est.mjs';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl'] });

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const DEVICES = arg('devices', 1000);
const CONCURRENCY = arg('concurrency', 16);
const ROUNDS = arg('rounds', 1);
const SEED_DEVICES = arg('seed-devices', 200);
const cli = join(ROOT, 'dist', 'server', 'main.js');
const { buildCsr } = await import(join(ROOT, 'dist', 'shared', 'pki', 'csr.js'));
const { generateKeyPair } = await import(join(ROOT, 'dist', 'shared', 'pki', 'key-pair.js'));

const dir = mkdtempSync(join(tmpdir(), 'fleetcert-bench-'));
const data = join(dir, 'data');
const pass = join(dir, 'pass');
const fleetcert = (args) => {
  const res = spawnSync(process.execPath, [cli, ...args, '--data-dir', data], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (res.status !== 0) throw new Error(`fleetcert ${args[0]}: ${res.stderr}`);
  return res.stdout;
};

/** Drives one server with the bodies, CONCURRENCY at a time; the server's CPU from /proc. */
async function drive(label, pid, port, ca, token, bodies) {
  const cpuBefore = cpuSeconds(pid);
  const load = loadavg()[0];
  const latencies = [];
  const statuses = {};
  let bytes = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const r = await postEnroll(port, ca, token, bodies[next++]);
        latencies.push(r.ms);
        bytes = r.bytes;
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(pid) - cpuBefore;
  latencies.sort((x, y) => x - y);
  const pct = (p) => Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1));
  if (statuses[200] !== bodies.length) throw new Error(`${label}: not every request got a 200: ${JSON.stringify(statuses)}`);
  return {
    label,
    requests: bodies.length,
    perSecond: bodies.length / seconds,
    wallSeconds: seconds,
    serverCpuMsPerRequest: (cpu * 1000) / bodies.length,
    p50: pct(50),
    p99: pct(99),
    replyBytes: bytes,
    loadAverageAtStart: load,
  };
}

async function serveRun(label, issuer, ca, token, bodies, nodeArgs = []) {
  const args = [
    cli,
    'serve',
    '--data-dir',
    data,
    '--passphrase-file',
    pass,
    '--listen',
    '127.0.0.1:0',
    '--json',
    '--log-level',
    'warn',
    '--issuer',
    issuer,
  ];
  const { child, port } = startProcess(args, nodeArgs);
  try {
    return await drive(label, child.pid, await port, ca, token, bodies);
  } finally {
    await stopProcess(child);
  }
}

/** The seeds' method: openssl x509 -req per device, the device-client extensions from an extfile. */
async function seedsMethod(count) {
  const work = join(dir, 'seeds');
  spawnSync('mkdir', ['-p', work]);
  const ext = join(work, 'device.ext');
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  const csrs = [];
  for (let i = 0; i < count; i += 1) {
    const csr = await buildCsr({ keys: await generateKeyPair(), commonName: `seed-${i}` });
    csrs.push(join(work, `${i}.csr`));
    writeFileSync(csrs[i], csr.pem);
  }
  const one = (i) =>
    new Promise((resolve, reject) => {
      const p = spawn(
        'openssl',
        [
          'x509',
          '-req',
          '-in',
          csrs[i],
          '-CA',
          join(data, 'ca', 'intermediate.pem'),
          '-CAkey',
          join(data, 'ca', 'intermediate.key'),
          '-passin',
          `file:${pass}`,
          '-set_serial',
          `0x${(BigInt(i) + 0x1000n).toString(16)}`,
          '-days',
          '30',
          '-sha256',
          '-extfile',
          ext,
          '-out',
          join(work, `${i}.pem`),
        ],
        { stdio: 'ignore' },
      );
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openssl x509 -req exited ${code}`))));
    });
  const parallel = cpus().length;
  let next = 0;
  const load = loadavg()[0];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await one(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    label: `(d) openssl x509 -req per device, ${parallel} at a time`,
    requests: count,
    perSecond: count / seconds,
    wallSeconds: seconds,
    loadAverageAtStart: load,
  };
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

try {
  fleetcert(['init', '--passphrase-file', pass, '--json']);
  const total = DEVICES * 3 * ROUNDS;
  const token = JSON.parse(fleetcert(['token', 'create', '--name', 'bench', '--uses', String(total), '--json'])).token;
  const ca = readFileSync(join(data, 'ca', 'root.pem'), 'utf8');
  process.stderr.write(`making ${total} device keys and CSRs (not timed)...\n`);
  const results = { a: [], b: [], c: [] };
  const nodeArgs = (process.env.FLEETCERT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  for (let round = 0; round < ROUNDS; round += 1) {
    const fast = await makeBodies(`fast-r${round}`, DEVICES);
    const reference = await makeBodies(`peculiar-r${round}`, DEVICES);
    const floorBodies = await makeBodies(`floor-r${round}`, DEVICES);
    // (b) first, so the floor can answer with a reply of exactly its size.
    process.stderr.write(`round ${round + 1}/${ROUNDS}: (b) fleetcert serve, fast issuer\n`);
    results.b.push(await serveRun('(b) fleetcert serve (fast issuer)', 'fast', ca, token, fast, nodeArgs));
    process.stderr.write(`round ${round + 1}/${ROUNDS}: (a) transport floor\n`);
    const floor = startProcess([
      join(ROOT, 'scripts', 'lib', 'floor-server.mjs'),
      join(data, 'tls', 'enroll.pem'),
      join(data, 'tls', 'enroll.key'),
      String(results.b.at(-1).replyBytes),
      join(data, 'ca', 'root.pem'),
      join(data, 'ca', 'intermediate.pem'),
    ]);
    try {
      results.a.push(await drive('(a) transport floor (bare Node HTTPS)', floor.child.pid, await floor.port, ca, token, floorBodies));
    } finally {
      await stopProcess(floor.child);
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}: (c) fleetcert serve --issuer peculiar\n`);
    results.c.push(await serveRun('(c) fleetcert serve --issuer peculiar', 'peculiar', ca, token, reference));
  }
  process.stderr.write(`(d) the seeds' method\n`);
  const d = await seedsMethod(SEED_DEVICES);
  const registered = JSON.parse(fleetcert(['device', 'list', '--json'])).devices.length;
  if (registered !== DEVICES * 2 * ROUNDS) throw new Error(`registry holds ${registered} devices, expected ${DEVICES * 2 * ROUNDS}`);

  const pick = (runs) => runs.find((r) => r.perSecond === median(runs.map((x) => x.perSecond)));
  const [a, b, c] = [pick(results.a), pick(results.b), pick(results.c)];
  const cell = (value, digits) => (value === undefined ? '-' : value.toFixed(digits));
  const row = (r) =>
    [
      r.label.padEnd(44),
      `${cell(r.perSecond, 0).padStart(6)}/s`,
      `${cell(r.serverCpuMsPerRequest, 2).padStart(7)} ms`,
      String(r.p50 ?? '-').padStart(7),
      String(r.p99 ?? '-').padStart(7),
      `  load ${r.loadAverageAtStart.toFixed(1)}`,
    ].join(' ');
  const ratio = (x, y, digits = 2) => (x / y).toFixed(digits);
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  const out = [
    `fleetcert bench: ${DEVICES} devices x ${ROUNDS} round(s), concurrency ${CONCURRENCY}, fresh TLS per device; ${SEED_DEVICES} for (d)`,
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${openssl}`,
    `${''.padEnd(44)} ${'rate'.padStart(8)} ${'CPU/req'.padStart(10)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}`,
    row(a),
    row(b),
    row(c),
    row(d),
    '',
    `(b)/(a) throughput ${ratio(b.perSecond, a.perSecond)}   ` +
      `server CPU per request (b)/(a) ${ratio(b.serverCpuMsPerRequest, a.serverCpuMsPerRequest)}   (targets: >= 0.5, <= 2)`,
    `(b)/(c) throughput ${ratio(b.perSecond, c.perSecond)}   ` +
      `server CPU per request (c)/(b) ${ratio(c.serverCpuMsPerRequest, b.serverCpuMsPerRequest)}`,
    `(b)/(d) throughput ${ratio(b.perSecond, d.perSecond, 1)}`,
    `every request a 200; ${registered} devices in the registry`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (process.argv.includes('--json'))
    process.stdout.write(`${JSON.stringify({ a: results.a, b: results.b, c: results.c, d }, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
