#!/usr/bin/env node
// Issue 16 item 6: enrollments/s of `fleetcert serve` on SQLite and on PostgreSQL, with 1 and 3
// instances, on this box. The numbers of docs/SCALING.md. Each scenario: fresh TLS connection per
// device, `--concurrency` at a time, a real P-256 CSR each (made before the clock starts), every
// reply must be a 200 and every device must be in the registry afterwards.
//   sqlite x1        serve on the data directory's SQLite file
//   sqlite x1 +seed  the same, with --seed devices (and as many certificates and audit rows) already in the file
//   postgres x1      one serve on a throwaway PostgreSQL cluster (fsync on: a real commit)
//   postgres x3      three serve processes on it, the client spreading devices over them
//   postgres x3 lb   the same behind haproxy (TCP mode), as docs/SCALING.md configures it
// CPU: the servers' utime+stime from /proc/<pid>/stat, and the whole box's busy time from /proc/stat
// (which includes PostgreSQL, haproxy and this client: all share the same cores).
// Usage: npm run build && node scripts/bench-scale-out.mjs [--devices 1500] [--concurrency 32] [--seed 200000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HZ, cpuSeconds, makeBodies, postEnroll, startProcess, stopProcess } from './lib/bench-est.mjs';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl', 'pg_ctlcluster', 'haproxy'] });

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const DEVICES = arg('devices', 1500);
const CONCURRENCY = arg('concurrency', 32);
const SEED = arg('seed', 200_000);
const cli = join(ROOT, 'dist', 'server', 'main.js');
const dist = (path) => import(join(ROOT, 'dist', path));
const { startPostgres } = await dist('test/helpers/postgres.js');
const { startHaproxy } = await dist('test/helpers/haproxy.js');
const Database = (await import('better-sqlite3')).default;

const dir = mkdtempSync(join(tmpdir(), 'fleetcert-bench-scale-'));
const data = join(dir, 'data');
const pass = join(dir, 'pass');
const fleetcert = (args, env = {}) => {
  const res = spawnSync(process.execPath, [cli, ...args, '--data-dir', data], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, ...env },
  });
  if (res.status !== 0) throw new Error(`fleetcert ${args[0]}: ${res.stderr}`);
  return res.stdout;
};

const boxBusy = () => {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return (v.reduce((a, b) => a + b, 0) - v[3] - v[4]) / HZ; // everything but idle and iowait
};

async function drive(label, pids, ports, ca, token, bodies) {
  const before = { servers: pids.map(cpuSeconds), box: boxBusy() };
  const load = loadavg()[0];
  const statuses = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const i = next++;
        const { status } = await postEnroll(ports[i % ports.length], ca, token, bodies[i]);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (statuses[200] !== bodies.length) throw new Error(`${label}: not every request got a 200: ${JSON.stringify(statuses)}`);
  const serverCpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - before.servers[i], 0);
  return {
    label,
    perSecond: bodies.length / seconds,
    serverCpuMs: (serverCpu * 1000) / bodies.length,
    boxCpuMs: ((boxBusy() - before.box) * 1000) / bodies.length,
    load,
  };
}

function startServe(extra) {
  const args = [cli, 'serve', '--data-dir', data, '--passphrase-file', pass, '--listen', '127.0.0.1:0', '--json', '--log-level', 'warn'];
  return startProcess([...args, ...extra]);
}

async function scenario(label, instances, extraArgs, ca, token, bodies, viaHaproxy = false) {
  const servers = Array.from({ length: instances }, () => startServe(extraArgs));
  const lb = { stop: async () => undefined };
  try {
    const ports = await Promise.all(servers.map((s) => s.port));
    let targets = ports;
    if (viaHaproxy) {
      Object.assign(lb, await startHaproxy(dir, ports));
      targets = [lb.port];
    }
    return await drive(label, [...servers.map((s) => s.child.pid)], targets, ca, token, bodies);
  } finally {
    await lb.stop();
    for (const s of servers) await stopProcess(s.child);
  }
}

/** SEED synthetic devices, each with a certificate and two audit rows, straight into the SQLite file. */
function seedSqlite(file, count) {
  const db = new Database(file);
  const now = Date.now();
  const device = db.prepare(
    "INSERT INTO devices (id, status, token_id, labels, metadata, first_seen, last_seen, updated_at) VALUES (?, 'active', NULL, '{}', '{}', ?, ?, ?)",
  );
  const cert = db.prepare(
    "INSERT INTO certificates (serial, device_id, key_sha256, not_before, not_after, status, issued_at, pem) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
  );
  const audit = db.prepare("INSERT INTO audit (at, action, device_id, serial, source, detail) VALUES (?, 'issued', ?, ?, 'seed', '{}')");
  const pem = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(600)}\n-----END CERTIFICATE-----\n`;
  db.transaction(() => {
    for (let i = 0; i < count; i += 1) {
      const id = `seeded-${i}`;
      const serial = (0x10000000 + i).toString(16).padStart(32, '1');
      device.run(id, now, now, now);
      cert.run(serial, id, serial.padEnd(64, '0'), now, now + 30 * 86_400_000, now, pem);
      audit.run(now, id, serial);
      audit.run(now, id, serial);
    }
  })();
  db.close();
}

const cluster = await startPostgres();
try {
  fleetcert(['init', '--passphrase-file', pass, '--json']);
  const url = await cluster.createDatabase('bench');
  const pgEnv = { FLEETCERT_DATABASE: url, FLEETCERT_DATABASE_PASSWORD_FILE: cluster.passwordFile };
  const pgArgs = ['--database', url, '--database-password-file', cluster.passwordFile];
  const migrate = spawnSync(process.execPath, [cli, 'db', 'migrate', ...pgArgs], { encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(`db migrate: ${migrate.stderr}`);
  const uses = String(DEVICES * 5);
  const sqliteToken = JSON.parse(fleetcert(['token', 'create', '--name', 'bench', '--uses', uses, '--json'])).token;
  const pgToken = JSON.parse(fleetcert(['token', 'create', '--name', 'bench', '--uses', uses, '--json'], pgEnv)).token;
  const ca = readFileSync(join(data, 'ca', 'root.pem'), 'utf8');
  process.stderr.write(`making ${DEVICES * 5} device keys and CSRs (not timed)...\n`);
  const results = [];
  const run = async (label, instances, args, token, prefix, lb) => {
    process.stderr.write(`${label}\n`);
    results.push(await scenario(label, instances, args, ca, token, await makeBodies(prefix, DEVICES), lb));
  };
  await run('sqlite x1', 1, [], sqliteToken, 'sqlite');
  await run('postgres x1', 1, pgArgs, pgToken, 'pg1');
  await run('postgres x3', 3, pgArgs, pgToken, 'pg3');
  await run('postgres x3 via haproxy', 3, pgArgs, pgToken, 'pg3lb', true);
  const file = join(data, 'registry.sqlite3');
  process.stderr.write(`seeding ${SEED} devices into SQLite\n`);
  seedSqlite(file, SEED);
  const seededBytes = statSync(file).size;
  await run(`sqlite x1, +${SEED} devices`, 1, [], sqliteToken, 'sqlite-seeded');

  const sqliteDevices = JSON.parse(fleetcert(['device', 'list', '--json'])).devices.length;
  const pgDevices = JSON.parse(fleetcert(['device', 'list', '--json'], pgEnv)).devices.length;
  if (sqliteDevices !== SEED + 2 * DEVICES || pgDevices !== 3 * DEVICES) {
    throw new Error(`registries hold ${sqliteDevices} / ${pgDevices} devices, expected ${SEED + 2 * DEVICES} / ${3 * DEVICES}`);
  }
  const row = (r) =>
    `${r.label.padEnd(30)} ${r.perSecond.toFixed(0).padStart(6)}/s ${r.serverCpuMs.toFixed(2).padStart(8)} ms ${r.boxCpuMs
      .toFixed(2)
      .padStart(8)} ms   load ${r.load.toFixed(1)}`;
  process.stdout.write(
    [
      `fleetcert scale-out bench: ${DEVICES} enrollments per scenario, concurrency ${CONCURRENCY}, fresh TLS per device`,
      `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}; PostgreSQL 15 with fsync on, SQLite synchronous=FULL`,
      `${''.padEnd(30)} ${'rate'.padStart(8)} ${'serve CPU'.padStart(11)} ${'box CPU'.padStart(11)}   (per enrollment)`,
      ...results.map(row),
      `SQLite file with ${SEED + 2 * DEVICES} devices: ${(seededBytes / 2 ** 20).toFixed(0)} MiB; every request a 200, every device registered`,
      '',
    ].join('\n'),
  );
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
