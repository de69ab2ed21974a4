#!/usr/bin/env node
// Issue 15 items 5 and 6: a whole fleet against one small box, all real parts on loopback:
// `fleetcert init`, `broker-config`, Debian's Mosquitto with that config, `fleetcert serve`.
//
// Default mode: N simulated devices (scripts/lib/fleet-sim-worker.mjs, one process per core),
// each with its own P-256 key made before the clock starts, enroll over EST on a fresh TLS
// connection, connect to Mosquitto over mTLS with the issued certificate, publish their retained
// status (QoS 1) and stay connected, all at once. A subscriber on the broker counts the retained
// statuses; then `fleetcert device revoke` (the real CLI) cuts one device off: its session must
// end and a new connection with its certificate must be refused, while every other device stays
// connected. Prints enroll and connect p50/p99, totals, errors (must be 0), server and broker
// RSS, wall time.
//
// --renewal-storm: the devices enroll with short-lived certificates (--lifetime, 30 min by
// default), then each runs the agent's own renewal timing (agent/renewal/renewal-scheduler: the
// server's renewal info, the jitter, the timer) and renews over mTLS with a new key when it says
// so. Prints the histogram of renewals per second; the peak must stay <= 2x the mean, and none
// may fail.
//
// File descriptors: every device holds a TLS socket in a worker and one in Mosquitto. When the
// soft limit (ulimit -n) is too small for that, the script raises it up to the hard limit, or
// beyond when run as root, and re-executes itself, as an operator would raise LimitNOFILE= for
// mosquitto.service. Mosquitto's own max_connections is unlimited (-1) unless configured.
import { execFile, fork, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

const USAGE = `Usage: node scripts/fleet-sim.mjs [options]
  --devices <n>         simulated devices (default 10000)
  --workers <n>         device processes (default: one per core)
  --concurrency <n>     devices enrolling/connecting at once per worker (default 32)
  --renewal-storm       enroll with short lifetimes, then run the agent's renewal timing for every device
  --lifetime <duration> certificate lifetime in --renewal-storm mode (default 30m)
  --json                print the results as JSON
  --no-setup            skip the set-up (dependency check, Debian packages, rebuild of dist/): the tests run it so
  --help                this text
Needs openssl and mosquitto; builds dist/ first (scripts/lib/setup.mjs). Raises ulimit -n as needed (see the header).
The peak/mean bound of --renewal-storm is judged from 1,000 devices up: a smaller fleet is too few for a per-second mean.`;

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const DEVICES = Number(option('devices', '10000'));
const WORKERS = Number(option('workers', String(cpus().length)));
const CONCURRENCY = Number(option('concurrency', '32'));
const STORM = argv.includes('--renewal-storm');
const LIFETIME = option('lifetime', '30m');
const JSON_OUT = argv.includes('--json');
if (!(DEVICES > 0 && WORKERS > 0 && CONCURRENCY > 0)) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}

raiseFileLimit(DEVICES + 1024);
if (!argv.includes('--no-setup')) ensureSetup({ commands: ['openssl', 'mosquitto'] });

const say = (m) => process.stderr.write(`[fleet-sim] ${m}\n`);
const cli = join(ROOT, 'dist', 'server', 'main.js');
const { default: mqtt } = await import('mqtt');
const { startFleetWithBroker } = await import(join(ROOT, 'dist', 'test', 'helpers', 'fleet-broker.js'));
const { freePort } = await import(join(ROOT, 'dist', 'test', 'helpers', 'ports.js'));
const { ALL_STATUS_TOPICS } = await import(join(ROOT, 'dist', 'shared', 'protocol', 'topics.js'));

/** Re-executes this script with a soft (and, as root, hard) RLIMIT_NOFILE of at least `needed`. */
function raiseFileLimit(needed) {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const [, soft, hard] = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits) ?? [];
  const num = (v) => (v === 'unlimited' ? Infinity : Number(v));
  if (num(soft) >= needed || process.env.FLEETCERT_SIM_LIMIT_RAISED) return;
  const root = process.getuid?.() === 0;
  const target = root ? Math.max(needed, num(hard) === Infinity ? needed : num(hard)) : Math.min(needed, num(hard));
  if (target < needed) {
    process.stderr.write(
      `[fleet-sim] ulimit -n is ${soft} (hard ${hard}); ${needed} needed: raise the hard limit or use fewer --devices\n`,
    );
    process.exit(2);
  }
  process.stderr.write(`[fleet-sim] raising ulimit -n from ${soft} to ${target}\n`);
  const shell = `ulimit -n ${target} && exec "$0" "$@"`;
  const res = spawnSync('sh', ['-c', shell, process.execPath, ...process.execArgv, process.argv[1], ...argv], {
    stdio: 'inherit',
    env: { ...process.env, FLEETCERT_SIM_LIMIT_RAISED: '1' },
  });
  process.exit(res.status ?? 1);
}

const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const procStatus = (pid, field) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / HZ;
};
const pct = (xs, p) => {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => a - b);
  return Number(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1));
};

/** A worker process and a way to ask it something and wait for its answer. */
function startWorker() {
  const child = fork(join(ROOT, 'scripts', 'lib', 'fleet-sim-worker.mjs'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the simulated devices.
    execArgv: (process.env.FLEETCERT_SIM_WORKER_ARGS ?? '').split(' ').filter(Boolean),
  });
  const waiting = [];
  const inbox = [];
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`worker exited ${code} while waiting for ${w.type}`));
  });
  child.on('message', (m) => {
    if (m.type === 'error') say(`worker ${child.pid}: ${m.error}`);
    const i = waiting.findIndex((w) => w.type === m.type || m.type === 'error');
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
    else inbox.push(m);
  });
  const next = (type) =>
    new Promise((resolve, reject) => {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return resolve(inbox.splice(i, 1)[0]);
      if (child.exitCode !== null) return reject(new Error(`worker exited ${child.exitCode} while waiting for ${type}`));
      waiting.push({ type, resolve, reject });
    });
  return {
    child,
    next,
    ask: async (message, answer) => {
      child.send(message);
      const reply = await next(answer);
      if (reply.type === 'error') throw new Error(reply.error);
      return reply;
    },
  };
}

/** Subscribes on the broker's loopback observer listener and counts the devices whose retained status says online. */
async function countRetainedOnline(port, expected, timeoutMs) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'fleet-sim-observer', writeCache: false });
  const online = new Set();
  try {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      client.on('message', (topic, payload) => {
        if (JSON.parse(payload.toString()).state === 'online') online.add(topic);
        else online.delete(topic);
        if (online.size >= expected) {
          clearTimeout(timer);
          resolve();
        }
      });
      // QoS 0: Mosquitto queues at most max_queued_messages (1000) QoS 1 messages for one subscriber.
      client.subscribe(ALL_STATUS_TOPICS, { qos: 0 });
    });
  } finally {
    await client.endAsync();
  }
  return online.size;
}

const dir = mkdtempSync(join(tmpdir(), 'fleetcert-sim-'));
const wallStarted = performance.now();
const serveArgs = [
  '--max-pending-enrollments',
  String(Math.max(64, WORKERS * CONCURRENCY)),
  ...(STORM ? ['--device-lifetime', LIFETIME, '--backdate', '1s'] : []),
];
const observerPort = await freePort();
say(`starting the server side (init, broker-config, mosquitto, serve${STORM ? ` with ${LIFETIME} certificates` : ''})`);
const fleet = await startFleetWithBroker(dir, serveArgs, { observerPort });
const workers = [];
const results = {};
let failed = false;
try {
  const mint = spawnSync(
    process.execPath,
    [cli, 'token', 'create', '--data-dir', fleet.server.dataDir, '--name', 'fleet-sim', '--uses', String(DEVICES), '--json'],
    { encoding: 'utf8' },
  );
  if (mint.status !== 0) throw new Error(mint.stderr);
  const token = JSON.parse(mint.stdout).token;
  const ca = readFileSync(join(fleet.outDir, 'ca.pem'), 'utf8');
  const ids = Array.from({ length: DEVICES }, (_, i) => `sim-${String(i).padStart(6, '0')}`);

  say(`making ${DEVICES}${STORM ? ' x 2' : ''} device keys and CSRs in ${WORKERS} workers (not timed)`);
  let started = performance.now();
  for (let w = 0; w < WORKERS; w += 1) workers.push(startWorker());
  await Promise.all(workers.map((w) => w.next('loaded')));
  await Promise.all(
    workers.map((w, i) =>
      w.ask(
        {
          type: 'init',
          ids: ids.filter((_, n) => n % WORKERS === i),
          port: fleet.server.port,
          brokerPort: fleet.brokerPort,
          ca,
          token,
          storm: STORM,
        },
        'ready',
      ),
    ),
  );
  results.keysSeconds = (performance.now() - started) / 1000;

  const serverCpu = cpuSeconds(fleet.server.pid);
  const brokerCpu = cpuSeconds(fleet.broker.pid);
  const workersCpu = workers.map((w) => cpuSeconds(w.child.pid));
  const load = loadavg()[0];
  say(`${STORM ? 'enrolling' : 'enrolling and connecting'} ${DEVICES} devices, ${CONCURRENCY} at a time per worker`);
  started = performance.now();
  const ran = await Promise.all(workers.map((w) => w.ask({ type: 'run', concurrency: CONCURRENCY, connectToBroker: !STORM }, 'ran')));
  const seconds = (performance.now() - started) / 1000;
  const enrollMs = ran.flatMap((r) => r.enrollMs);
  const connectMs = ran.flatMap((r) => r.connectMs);
  const errors = ran.flatMap((r) => r.errors);
  const issuedAt = ran.flatMap((r) => r.issuedAt);
  Object.assign(results, {
    devices: DEVICES,
    workers: WORKERS,
    concurrency: CONCURRENCY,
    loadAverageAtStart: load,
    seconds,
    enrolled: enrollMs.length,
    connected: connectMs.length,
    errors,
    serverBusyAnswers: ran.reduce((n, r) => n + r.busy, 0),
    enrollMs: { p50: pct(enrollMs, 50), p99: pct(enrollMs, 99) },
    connectMs: { p50: pct(connectMs, 50), p99: pct(connectMs, 99) },
    serverCpuSeconds: cpuSeconds(fleet.server.pid) - serverCpu,
    brokerCpuSeconds: cpuSeconds(fleet.broker.pid) - brokerCpu,
    workersCpuSeconds: workers.reduce((n, w, i) => n + cpuSeconds(w.child.pid) - workersCpu[i], 0),
    issuedOverSeconds: (Math.max(...issuedAt) - Math.min(...issuedAt)) / 1000,
  });

  if (!STORM) {
    results.retainedOnline = await countRetainedOnline(observerPort, DEVICES, 30_000);
    results.rssMiB = {
      server: procStatus(fleet.server.pid, 'VmRSS'),
      broker: procStatus(fleet.broker.pid, 'VmRSS'),
      workers: workers.map((w) => procStatus(w.child.pid, 'VmRSS')),
    };
    // One device cut off by the real CLI; everyone else must stay.
    const victim = ids[Math.floor(DEVICES / 2)];
    const owner = workers[ids.indexOf(victim) % WORKERS];
    say(`revoking ${victim} with fleetcert device revoke`);
    started = performance.now();
    // Not spawnSync: this process reads Mosquitto's log pipe, and a broker blocked on a full pipe answers no one.
    await promisify(execFile)(process.execPath, [
      cli,
      'device',
      'revoke',
      victim,
      '--data-dir',
      fleet.server.dataDir,
      '--passphrase-file',
      fleet.server.passphraseFile,
      '--json',
    ]).catch((err) => {
      throw new Error(`device revoke: ${err.stderr ?? err.message}`);
    });
    const revokeSeconds = (performance.now() - started) / 1000;
    let closed = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      closed = (await Promise.all(workers.map((w) => w.ask({ type: 'count' }, 'count')))).flatMap((c) => c.closed);
      if (closed.some((c) => c.id === victim)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 2_000)); // anyone else dropped would show by now
    const counts = await Promise.all(workers.map((w) => w.ask({ type: 'count' }, 'count')));
    const reconnect = await owner.ask({ type: 'reconnect', id: victim }, 'reconnect');
    results.revocation = {
      device: victim,
      cliSeconds: revokeSeconds,
      sessionEnded: counts.flatMap((c) => c.closed).some((c) => c.id === victim),
      othersDropped: counts.flatMap((c) => c.closed).filter((c) => c.id !== victim).length,
      stillConnected: counts.reduce((n, c) => n + c.connected, 0),
      reconnectRefused: !reconnect.ok,
      reconnectError: reconnect.error?.split('\n')[0].replace(/^.*SSL routines:[^:]*:/, ''),
    };
    results.wallSeconds = (performance.now() - wallStarted) / 1000;
    const r = results.revocation;
    failed =
      errors.length > 0 ||
      results.connected !== DEVICES ||
      results.retainedOnline !== DEVICES ||
      !r.sessionEnded ||
      r.othersDropped !== 0 ||
      r.stillConnected !== DEVICES - 1 ||
      !r.reconnectRefused;
  } else {
    const lifetimeMs = durationMs(LIFETIME);
    say(`running the agent's renewal timing for ${enrollMs.length} devices; renewals come in about ${Math.round(lifetimeMs / 2 / 1000)} s`);
    const stormed = await Promise.all(
      workers.map((w) =>
        w.ask({ type: 'storm', cronExpression: '*/15 * * * *', deadlineMs: lifetimeMs + 60_000, hintConcurrency: 16 }, 'stormed'),
      ),
    );
    const renewals = stormed.flatMap((s) => s.renewals);
    const failures = stormed.flatMap((s) => s.failures);
    const perSecond = histogram(renewals.map((r) => r.at));
    results.storm = {
      lifetime: LIFETIME,
      renewed: new Set(renewals.map((r) => r.id)).size,
      failures,
      renewalMs: {
        p50: pct(
          renewals.map((r) => r.ms),
          50,
        ),
        p99: pct(
          renewals.map((r) => r.ms),
          99,
        ),
      },
      ...perSecond,
    };
    results.rssMiB = { server: procStatus(fleet.server.pid, 'VmRSS'), broker: procStatus(fleet.broker.pid, 'VmRSS') };
    results.wallSeconds = (performance.now() - wallStarted) / 1000;
    results.storm.peakJudged = DEVICES >= 1000;
    failed =
      errors.length > 0 ||
      failures.length > 0 ||
      results.storm.renewed !== results.enrolled ||
      (results.storm.peakJudged && perSecond.peak > 2 * perSecond.mean);
  }
} finally {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => (w.child.exitCode !== null ? resolve() : (w.child.once('exit', resolve), w.child.send({ type: 'stop' })))),
    ),
  );
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}

function durationMs(text) {
  const m = /^(\d+)(s|m|h)$/.exec(text);
  if (!m) throw new Error(`--lifetime ${text}: use e.g. 90s, 16m, 1h`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2]];
}

/** Renewals per second over the span they cover: counts, peak, mean. */
function histogram(moments) {
  if (moments.length === 0) return { seconds: [], peak: 0, mean: 0, spanSeconds: 0 };
  const first = Math.floor(Math.min(...moments) / 1000);
  const last = Math.floor(Math.max(...moments) / 1000);
  const seconds = Array.from({ length: last - first + 1 }, () => 0);
  for (const t of moments) seconds[Math.floor(t / 1000) - first] += 1;
  return { seconds, peak: Math.max(...seconds), mean: moments.length / seconds.length, spanSeconds: seconds.length };
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`;
if (JSON_OUT) {
  process.stdout.write(`${JSON.stringify({ machine, ok: !failed, ...results }, null, 2)}\n`);
} else {
  const f = (x, d = 1) => (x === undefined ? '-' : Number(x).toFixed(d));
  const lines = [
    `fleetcert fleet-sim: ${DEVICES} devices${STORM ? `, renewal storm (${LIFETIME} certificates)` : ''}, ` +
      `${WORKERS} workers x ${CONCURRENCY}; ${machine}`,
    `keys and CSRs made beforehand in ${f(results.keysSeconds)} s (not timed)`,
    `${STORM ? 'enrolled' : 'enrolled and connected'} in ${f(results.seconds)} s ` +
      `(load average ${f(results.loadAverageAtStart)} at the start): ${results.enrolled} enrolled, ${results.connected} connected, ` +
      `${results.errors.length} errors, ${results.serverBusyAnswers} server_busy answers`,
    `enroll p50 ${f(results.enrollMs.p50)} ms, p99 ${f(results.enrollMs.p99)} ms` +
      (STORM ? '' : `; connect+publish p50 ${f(results.connectMs.p50)} ms, p99 ${f(results.connectMs.p99)} ms`),
    `CPU during that phase: server ${f(results.serverCpuSeconds)} s, broker ${f(results.brokerCpuSeconds)} s, ` +
      `device workers ${f(results.workersCpuSeconds)} s`,
    `RSS: server ${f(results.rssMiB.server)} MiB, broker ${f(results.rssMiB.broker)} MiB` +
      (results.rssMiB.workers ? `, device workers ${results.rssMiB.workers.map((x) => f(x)).join(' + ')} MiB` : ''),
  ];
  if (results.revocation) {
    const r = results.revocation;
    lines.push(
      `retained statuses "online" seen on the broker: ${results.retainedOnline}`,
      `revoked ${r.device} (CLI ${f(r.cliSeconds, 2)} s): session ended ${r.sessionEnded}, new connection refused ${r.reconnectRefused}` +
        ` (${r.reconnectError ?? 'connected!'}); others dropped ${r.othersDropped}, still connected ${r.stillConnected}`,
    );
  }
  if (results.storm) {
    const s = results.storm;
    lines.push(
      `certificates issued over ${f(results.issuedOverSeconds)} s; ${s.renewed} renewed, ${s.failures.length} failed; ` +
        `renewal p50 ${f(s.renewalMs.p50)} ms, p99 ${f(s.renewalMs.p99)} ms`,
      `renewals per second over ${s.spanSeconds} s: peak ${s.peak}, mean ${f(s.mean)} ` +
        `(peak/mean ${f(s.peak / s.mean, 2)}; target <= 2${s.peakJudged ? '' : ', not judged below 1,000 devices'})`,
      ...histogramLines(s.seconds),
    );
  }
  lines.push(`wall time ${f(results.wallSeconds)} s; ${failed ? 'FAILED' : 'ok'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
if (failed) process.exitCode = 1;

/** The per-second counts as rows of bars, ten seconds per row when the span is long. */
function histogramLines(seconds) {
  const per = seconds.length > 60 ? Math.ceil(seconds.length / 60) : 1;
  const rows = [];
  for (let i = 0; i < seconds.length; i += per) {
    const slice = seconds.slice(i, i + per);
    const peak = Math.max(...slice);
    rows.push(`  +${String(i).padStart(4)} s ${String(peak).padStart(5)}/s ${'#'.repeat(Math.round((peak / Math.max(...seconds)) * 50))}`);
  }
  return [`  (each row: the busiest second of ${per})`, ...rows];
}
