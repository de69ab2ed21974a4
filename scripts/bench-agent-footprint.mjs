#!/usr/bin/env node
// The agent's footprint on a board: cold start of `fleetcert-agent status` (a new process each time,
// files in the page cache), cold start of `run` on an enrolled state directory until it is
// connected over mTLS to a known broker (`--broker`: no discovery), and, once connected and idle,
// its resident memory, CPU ticks and main-thread wake-ups (context switches from /proc) over the
// idle window, each beside bare `node` of the same Node, for this machine's Node (x64 native) and for
// Debian 12's own node 18 for arm64 under qemu-user (scripts/arm-sysroot.mjs). The idle RSS of `run` is
// read twice: after the process enrolled (it built a CSR and validated a chain) and after a restart
// on the enrolled state (every later boot of a board). The server and
// Mosquitto run natively on loopback, as in the tests. Runs the bundle when `npm run build` made
// it, else dist/agent/main.js with the repository's node_modules.
// Usage: node scripts/bench-agent-footprint.mjs [--runs 10] [--qemu-runs 3] [--idle-seconds 10] [--json]
//        --qemu-runs 0 measures the native runtime only; FLEETCERT_AGENT_NODE_ARGS="--max-semi-space-size=1"
//        adds Node options to the agent's command line (as /usr/bin/fleetcert-agent does).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';
import { qemuNode } from './arm-sysroot.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg('runs', 10);
const QEMU_RUNS = arg('qemu-runs', 3);
const QEMU = QEMU_RUNS > 0;
ensureSetup({ commands: ['openssl', 'mosquitto', ...(QEMU ? ['qemu-aarch64-static', 'dpkg-deb'] : [])] });
const IDLE_SECONDS = arg('idle-seconds', 10);
const BUNDLE = join(ROOT, 'dist', 'bundle', 'fleetcert-agent.mjs');
const AGENT = existsSync(BUNDLE) ? BUNDLE : join(ROOT, 'dist', 'agent', 'main.js');
const AGENT_NODE_ARGS = (process.env.FLEETCERT_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
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

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Context switches of the main thread: each wake-up from its event loop's sleep is one. */
function wakeups(pid) {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)[1]) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)[1]);
}

/**
 * Starts a process, waits for `ready` (a predicate on its stderr, or none), lets start-up settle
 * (30 s: its one-shot timers, and V8's rounds of garbage collection after start-up, which
 * wake any Node process that allocated a lot, a bare MQTT.js client as much as the agent, for ~20 s), then reads CPU ticks and
 * main-thread wake-ups over IDLE_SECONDS, and its RSS at the end.
 */
async function idleRss(program, args, ready, env = {}) {
  const child = spawn(program[0], [...program.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
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
    await new Promise((r) => setTimeout(r, 30_000));
    const [ticks, wakes] = [cpuTicks(child.pid), wakeups(child.pid)];
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    return {
      rss: rssMiB(child.pid),
      readyMs,
      idleCpuMs: ((cpuTicks(child.pid) - ticks) * 1000) / HZ,
      idleWakeups: wakeups(child.pid) - wakes,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
  }
}

const connected = (logs) => logs.split('\n').some((l) => l.includes('"event":"mqtt_connected"'));

/** A bare MQTT.js client over mutual TLS with an enrolled agent's live files (another client id: it must not kick the agent). */
function mqttClientScript(live) {
  const file = (name) => JSON.stringify(join(live, name));
  return [
    `const mqtt = require(${JSON.stringify(join(ROOT, 'node_modules', 'mqtt'))}); const fs = require('fs');`,
    `const c = mqtt.connect('mqtts://127.0.0.1:' + process.env.BROKER_PORT, { protocolVersion: 5, clientId: process.env.CLIENT_ID,`,
    `  ca: fs.readFileSync(${file('ca.pem')}), cert: fs.readFileSync(${file('cert.pem')}), key: fs.readFileSync(${file('key.pem')}),`,
    `  servername: 'localhost', writeCache: false });`,
    `c.on('connect', () => console.error('CONNECTED')); c.on('error', (e) => console.error(e.message));`,
  ].join('\n');
}

/** Wall time from spawn to the first mTLS connection of `run` on an enrolled state directory, in ms. */
async function runUntilConnected(program, args) {
  const started = process.hrtime.bigint();
  const child = spawn(program[0], [...program.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  child.stderr.on('data', (c) => (logs += c));
  try {
    // oxlint-disable-next-line eslint/no-unmodified-loop-condition -- logs grows from the child's stderr
    while (!connected(logs)) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before it connected:\n${logs}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    // oxlint-disable-next-line typescript/no-unnecessary-type-conversion -- bigint nanoseconds to a number
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'fleetcert-footprint-'));
const fleet = await startFleetWithBroker(dir);
const results = [];
try {
  const runtimes = [{ name: `x64 native, Node ${process.versions.node}`, program: [process.execPath], runs: RUNS, board: 'generic-x86' }];
  if (QEMU) {
    const arm64 = qemuNode('arm64');
    const arm64Version = spawnSync(arm64.command, [...arm64.args, '--version'], { encoding: 'utf8' }).stdout.trim();
    runtimes.push({
      name: `arm64 under qemu-user, Debian node ${arm64Version}`,
      program: [arm64.command, ...arm64.args],
      runs: QEMU_RUNS,
      board: 'rpi4-bookworm-arm64',
    });
  }
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
    const run = await idleRss([...rt.program, ...AGENT_NODE_ARGS, AGENT], ['run', ...args], connected);
    // Every later boot: `run` on the enrolled state, which loads no CSR builder and no path validation.
    say(`${rt.name}: run again on the enrolled state until connected, then ${IDLE_SECONDS} s idle`);
    const rerun = await idleRss([...rt.program, ...AGENT_NODE_ARGS, AGENT], ['run', ...args], connected);
    // Bare node kept alive by a timer that never fires while measured: a baseline that sleeps too.
    const bare = await idleRss([...rt.program], ['-e', 'setInterval(() => {}, 1 << 30)'], undefined);
    // The floor of any Node agent for this job: MQTT.js alone, one mTLS connection with the agent's live files.
    const mqttOnly = await idleRss(
      [...rt.program],
      ['-e', mqttClientScript(join(dir, `state-${i}`, 'live'))],
      (logs) => logs.includes('CONNECTED'),
      { BROKER_PORT: String(fleet.brokerPort), CLIENT_ID: 'footprint-floor' },
    );
    say(`${rt.name}: ${rt.runs} cold starts of run on the enrolled state until connected`);
    const restarts = [];
    for (let n = 0; n < rt.runs; n += 1)
      restarts.push(await runUntilConnected([...rt.program, ...AGENT_NODE_ARGS, AGENT], ['run', ...args]));
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
      mqttClientIdleRssMiB: mqttOnly.rss,
      runIdleRssMiB: run.rss,
      restartedIdleRssMiB: rerun.rss,
      runConnectedAfterMs: run.readyMs,
      restartConnectedMs: median(restarts),
      idleSeconds: IDLE_SECONDS,
      nodeIdleCpuMs: bare.idleCpuMs,
      runIdleCpuMs: run.idleCpuMs,
      restartedIdleCpuMs: rerun.idleCpuMs,
      nodeIdleWakeups: bare.idleWakeups,
      runIdleWakeups: run.idleWakeups,
      restartedIdleWakeups: rerun.idleWakeups,
    });
  }
} finally {
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}

const qemu = QEMU ? spawnSync('qemu-aarch64-static', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] : 'no qemu run';
const facts = {
  date: new Date().toISOString().slice(0, 10),
  cpu: `${cpus().length} x ${cpus()[0]?.model}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  qemu,
  agent: AGENT === BUNDLE ? `bundle ${(statSync(BUNDLE).size / 2 ** 20).toFixed(2)} MiB` : 'dist/agent/main.js (no bundle built yet)',
  command: [
    ...(AGENT_NODE_ARGS.length ? [`FLEETCERT_AGENT_NODE_ARGS="${AGENT_NODE_ARGS.join(' ')}"`] : []),
    'node scripts/bench-agent-footprint.mjs',
    ...process.argv.slice(2),
  ].join(' '),
};
if (process.argv.includes('--json')) {
  process.stdout.write(JSON.stringify({ facts, results }, null, 2) + '\n');
} else {
  const f1 = (x) => x.toFixed(1);
  const lines = [
    `${facts.command} — ${facts.date}, ${facts.cpu}, ${facts.memoryGiB} GiB, Linux ${facts.kernel}, ${facts.qemu}; agent: ${facts.agent}`,
    '',
    '| runtime | `node -e 0` start | `status` start | `run` start to mTLS connected (enrolled) | bare node idle RSS | ' +
      'bare MQTT.js mTLS client idle RSS | `run` idle RSS: enrolled in this process / restarted enrolled | ' +
      'RSS ratio to bare node: enrolled / restarted | RSS ratio of restarted to MQTT.js | ' +
      'idle CPU, bare / `run` / restarted | main-thread wake-ups, bare / `run` / restarted | first `run` (enroll) connected after |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.runtime} | ${Math.round(r.nodeStartMs)} ms | ${Math.round(r.statusStartMs)} ms | ${Math.round(r.restartConnectedMs)} ms | ` +
        `${f1(r.nodeIdleRssMiB)} MiB | ${f1(r.mqttClientIdleRssMiB)} MiB | ${f1(r.runIdleRssMiB)} / ${f1(r.restartedIdleRssMiB)} MiB | ` +
        `${(r.runIdleRssMiB / r.nodeIdleRssMiB).toFixed(2)} / ${(r.restartedIdleRssMiB / r.nodeIdleRssMiB).toFixed(2)} | ` +
        `${(r.restartedIdleRssMiB / r.mqttClientIdleRssMiB).toFixed(2)} | ` +
        `${Math.round(r.nodeIdleCpuMs)} / ${Math.round(r.runIdleCpuMs)} / ${Math.round(r.restartedIdleCpuMs)} ms in ${r.idleSeconds} s | ` +
        `${r.nodeIdleWakeups} / ${r.runIdleWakeups} / ${r.restartedIdleWakeups} in ${r.idleSeconds} s | ` +
        `${(r.runConnectedAfterMs / 1000).toFixed(1)} s |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
