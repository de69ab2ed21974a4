#!/usr/bin/env node
// The agent's footprint on a board: cold start of `fleetcert-agent status` (a new process each time,
// files in the page cache) and the resident memory of `run` once connected over mTLS and idle,
// each beside bare `node -e 0` of the same Node, for this machine's Node (x64 native) and for
// Debian 12's own node 18 for arm64 under qemu-user (scripts/arm-sysroot.mjs). The server and
// Mosquitto run natively on loopback, as in the tests. Runs the bundle when `npm run build` made
// it, else dist/agent/main.js with the repository's node_modules.
// Usage: node scripts/bench-agent-footprint.mjs [--runs 10] [--qemu-runs 3] [--idle-seconds 10] [--json]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';
import { qemuNode } from './arm-sysroot.mjs';

ensureSetup({ commands: ['openssl', 'mosquitto', 'qemu-aarch64-static', 'dpkg-deb'] });

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg('runs', 10);
const QEMU_RUNS = arg('qemu-runs', 3);
const IDLE_SECONDS = arg('idle-seconds', 10);
const BUNDLE = join(ROOT, 'dist', 'bundle', 'fleetcert-agent.mjs');
const AGENT = existsSync(BUNDLE) ? BUNDLE : join(ROOT, 'dist', 'agent', 'main.js');
const { startFleetWithBroker } = await import(join(ROOT, 'dist', 'test', 'helpers', 'fleet-broker.js'));
const { boardRoot } = await import(join(ROOT, 'dist', 'test', 'helpers', 'boards.js'));

const say = (m) => process.stderr.write(`[footprint] ${m}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall time of one process from spawn to exit, in ms; fails on a non-zero exit. */
function timed(program, args) {
  const started = process.hrtime.bigint();
  const res = spawnSync(program[0], [...program.slice(1), ...args], { encoding: 'utf8' });
  // oxlint-disable-next-line typescript/no-unnecessary-type-conversion -- bigint nanoseconds to a number
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.status !== 0) throw new Error(`${program.join(' ')} ${args.join(' ')} exited ${res.status}: ${res.stderr}`);
  return ms;
}

/** VmRSS of a live process from /proc, in MiB (under qemu-user: the emulator with its guest). */
function rssMiB(pid) {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

/** Starts a process, waits for `ready` (a predicate on its stderr, or none), then IDLE_SECONDS, and reads its RSS. */
async function idleRss(program, args, ready) {
  const child = spawn(program[0], [...program.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  child.stderr.on('data', (c) => (logs += c));
  const started = Date.now();
  try {
    // oxlint-disable-next-line eslint/no-unmodified-loop-condition -- logs grows from the child's stderr
    while (ready && !ready(logs)) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before it was ready:\n${logs}`);
      if (Date.now() - started > 300_000) throw new Error(`not ready within 300 s:\n${logs}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const readyMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    return { rss: rssMiB(child.pid), readyMs };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
  }
}

const connected = (logs) => logs.split('\n').some((l) => l.includes('"event":"mqtt_connected"'));

const dir = mkdtempSync(join(tmpdir(), 'fleetcert-footprint-'));
const fleet = await startFleetWithBroker(dir);
const results = [];
try {
  const arm64 = qemuNode('arm64');
  const arm64Version = spawnSync(arm64.command, [...arm64.args, '--version'], { encoding: 'utf8' }).stdout.trim();
  const runtimes = [
    { name: `x64 native, Node ${process.versions.node}`, program: [process.execPath], runs: RUNS, board: 'generic-x86' },
    {
      name: `arm64 under qemu-user, Debian node ${arm64Version}`,
      program: [arm64.command, ...arm64.args],
      runs: QEMU_RUNS,
      board: 'rpi4-bookworm-arm64',
    },
  ];
  for (const [i, rt] of runtimes.entries()) {
    const boot = join(dir, `boot-${i}.json`);
    const mint = spawnSync(
      process.execPath,
      [
        join(ROOT, 'dist', 'server', 'main.js'),
        'token',
        'create',
        '--data-dir',
        fleet.server.dataDir,
        '--name',
        `footprint-${i}`,
        '--out',
        boot,
        '--enroll-url',
        `https://localhost:${fleet.server.port}`,
      ],
      { encoding: 'utf8' },
    );
    if (mint.status !== 0) throw new Error(mint.stderr);
    const args = [
      '--state-dir',
      join(dir, `state-${i}`),
      '--bootstrap',
      boot,
      '--broker',
      `127.0.0.1:${fleet.brokerPort}`,
      '--broker-servername',
      'localhost',
      '--identity-root',
      boardRoot(rt.board),
      '--id-template',
      `footprint${i}-{serial}`,
      '--log-level',
      'info',
    ];
    say(`${rt.name}: run until connected, then ${IDLE_SECONDS} s idle`);
    const run = await idleRss([...rt.program, AGENT], ['run', ...args], connected);
    const bare = await idleRss([...rt.program], ['-e', 'setInterval(() => {}, 1000)'], undefined);
    say(`${rt.name}: ${rt.runs} cold starts of status and of node -e 0`);
    const status = [];
    const nodeOnly = [];
    for (let n = 0; n < rt.runs; n += 1) {
      nodeOnly.push(timed(rt.program, ['-e', '0']));
      status.push(timed([...rt.program, AGENT], ['status', '--state-dir', join(dir, `state-${i}`)]));
    }
    results.push({
      runtime: rt.name,
      runs: rt.runs,
      nodeStartMs: median(nodeOnly),
      statusStartMs: median(status),
      nodeIdleRssMiB: bare.rss,
      runIdleRssMiB: run.rss,
      runConnectedAfterMs: run.readyMs,
    });
  }
} finally {
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}

const qemu = spawnSync('qemu-aarch64-static', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
const facts = {
  date: new Date().toISOString().slice(0, 10),
  cpu: `${cpus().length} x ${cpus()[0]?.model}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  qemu,
  agent: AGENT === BUNDLE ? `bundle ${(statSync(BUNDLE).size / 2 ** 20).toFixed(2)} MiB` : 'dist/agent/main.js (no bundle built yet)',
  command: `node scripts/bench-agent-footprint.mjs ${process.argv.slice(2).join(' ')}`.trim(),
};
if (process.argv.includes('--json')) {
  process.stdout.write(JSON.stringify({ facts, results }, null, 2) + '\n');
} else {
  const f1 = (x) => x.toFixed(1);
  const lines = [
    `${facts.command} — ${facts.date}, ${facts.cpu}, ${facts.memoryGiB} GiB, Linux ${facts.kernel}, ${facts.qemu}; agent: ${facts.agent}`,
    '',
    '| runtime | `node -e 0` start | `status` start | bare node idle RSS | `run` idle RSS (connected) | `run` connected after |',
    '|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.runtime} | ${Math.round(r.nodeStartMs)} ms | ${Math.round(r.statusStartMs)} ms | ${f1(r.nodeIdleRssMiB)} MiB | ` +
        `${f1(r.runIdleRssMiB)} MiB | ${(r.runConnectedAfterMs / 1000).toFixed(1)} s |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
