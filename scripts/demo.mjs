#!/usr/bin/env node
// The README's main command. Sets itself up (npm ci, Debian packages when root, build), then
// runs fleetcert as an operator would, in a temporary directory on loopback ports, and shows
// each step: the CA, a fleet token and its bootstrap file, a real Mosquitto configured by
// broker-config, the enrollment server, then the agent, as its own process, going from an
// empty state directory and the bootstrap file to mutual TLS on the broker (this machine plays
// the board), its status reaching the server, and finally its revocation.
// Usage: npm run demo [-- --keep]   (--keep leaves the temporary directory for a look)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl', 'mosquitto'] });

const keep = process.argv.includes('--keep');
const dir = mkdtempSync(join(tmpdir(), 'fleetcert-demo-'));
const data = join(dir, 'server');
const pass = join(dir, 'ca-passphrase');
const cli = join(ROOT, 'dist', 'server', 'main.js');
let server;
let broker;
const agents = [];

function step(title) {
  process.stdout.write(`\n== ${title}\n`);
}

function fail(message) {
  process.stderr.write(`demo: ${message}; files kept in ${dir}\n`);
  server?.kill('SIGTERM');
  broker?.kill('SIGTERM');
  process.exit(1);
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The Debian mosquitto with the files broker-config wrote, as conf.d would include them. */
async function startBroker(includeDir, pidFile) {
  writeFileSync(join(dir, 'mosquitto.conf'), `pid_file ${pidFile}\npersistence false\nlog_dest stderr\ninclude_dir ${includeDir}\n`);
  broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  broker.stderr.on('data', (c) => (log += c));
  broker.on('exit', (code) => fail(`mosquitto exited (${code}):\n${log}`));
  for (let i = 0; i < 100 && !/running/.test(log); i += 1) await new Promise((r) => setTimeout(r, 50));
  if (!/running/.test(log)) fail(`mosquitto did not start:\n${log}`);
}

/** Runs fleetcert with the demo's data dir, echoing the command as a person would type it. */
function fleetcert(args, { quiet = false, echo = true } = {}) {
  if (echo) process.stdout.write(`$ fleetcert ${args.join(' ')}\n`);
  const res = spawnSync(process.execPath, [cli, ...args, '--data-dir', data], { encoding: 'utf8' });
  if (res.status !== 0) fail(`"fleetcert ${args[0]}" failed (exit ${res.status}):\n${res.stderr}`);
  if (!quiet) process.stdout.write(res.stdout);
  return res.stdout;
}

function shell(title, script, env = {}) {
  process.stdout.write(`$ ${title}\n`);
  const res = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } });
  if (res.status !== 0) fail(`"${title}" failed:\n${res.stderr}${res.stdout}`);
  const out = res.stdout.trimEnd();
  if (out) process.stdout.write(out.replace(/^/gm, '  ') + '\n');
}

/** The agent as its own process; its JSON log lines are shown as the steps a person cares about. */
const AGENT_STEPS = {
  'bootstrap file found': (l) => `bootstrap file read: ${l.path}`,
  'device identity': (l) => `identity: ${l.deviceId} (${l.model})`,
  'key generated on the device': (l) => `key generated on the device (${l.keyType}), written 0600 before any network call`,
  'CA pinned': (l) => `fleet CA pinned (SHA-256 ${l.fingerprint.slice(0, 16)}...)`,
  'sending the certificate request': (l) => `CSR sent to ${l.url} with the fleet token`,
  'certificate installed': (l) => `certificate installed: serial ${l.serial}, valid until ${l.notAfter}`,
  'connected to the broker over mutual TLS': (l) => `connected to Mosquitto over mutual TLS as ${l.clientId}`,
};
function startAgent(args) {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'agent', 'main.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let pending = '';
  const lines = [];
  child.stderr.on('data', (chunk) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop();
    for (const line of parts) {
      lines.push(line);
      try {
        const entry = JSON.parse(line);
        const render = AGENT_STEPS[entry.msg];
        if (render) process.stdout.write(`  agent: ${render(entry)}\n`);
        else if (entry.level === 'error' || entry.level === 'warn') process.stdout.write(`  agent ${entry.level}: ${entry.msg}\n`);
      } catch {
        process.stdout.write(`  agent: ${line}\n`);
      }
    }
  });
  child.on('exit', (code) => code && fail(`the agent exited (${code}):\n${lines.join('\n')}`));
  agents.push(child);
  return {
    until: async (pattern, timeoutMs = 30_000) => {
      for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((r) => setTimeout(r, 50))) {
        const line = lines.find((l) => pattern.test(l));
        if (line) return line;
      }
      fail(`the agent did not get to ${pattern}:\n${lines.join('\n')}`);
    },
    stop: () => {
      child.removeAllListeners('exit');
      child.kill('SIGTERM');
    },
  };
}

async function startServer(enrollPort) {
  server = spawn(
    process.execPath,
    [cli, 'serve', '--data-dir', data, '--passphrase-file', pass, '--listen', `127.0.0.1:${enrollPort}`, '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  server.stderr.on('data', (c) => (log += c));
  return new Promise((resolve) => {
    let out = '';
    server.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).port);
    });
    server.on('exit', (code) => fail(`the server exited (${code}):\n${log}`));
  });
}

try {
  step('1. Create the fleet CA (root + issuing CA) and the server TLS certificates');
  fleetcert(['init', '--passphrase-file', pass]);

  step('2. One fleet token for up to 50 boards, and its bootstrap file for the boot partition');
  const enrollPort = await freePort();
  const boot = join(dir, 'fleetcert.json');
  fleetcert([
    'token',
    'create',
    '--name',
    'demo-fleet',
    '--uses',
    '50',
    '--expires',
    '1d',
    '--label',
    'site=demo',
    '--out',
    boot,
    '--enroll-url',
    `https://localhost:${enrollPort}`,
  ]);

  step('3. Make Mosquitto enforce it: mutual TLS, a per-device ACL, a CRL');
  // Run as root, mosquitto drops to its own user: it must reach these files and its pid file.
  const asRoot = process.getuid?.() === 0;
  const run = join(dir, 'run');
  mkdirSync(run);
  if (asRoot) {
    chmodSync(dir, 0o755);
    chownSync(run, Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim()), 0);
  }
  const mqttPort = await freePort();
  const adminPort = await freePort();
  fleetcert([
    'broker-config',
    '--out',
    join(dir, 'broker'),
    '--port',
    String(mqttPort),
    '--bind',
    '127.0.0.1',
    '--admin-port',
    String(adminPort),
    '--host',
    'localhost',
    '--reload-pid-file',
    join(run, 'mosquitto.pid'),
    '--passphrase-file',
    pass,
  ]);
  await startBroker(join(dir, 'broker'), join(run, 'mosquitto.pid'));
  process.stdout.write(`  mosquitto is running with it on 127.0.0.1:${mqttPort}\n`);

  step('4. Start the enrollment server (EST over HTTPS)');
  const port = await startServer(enrollPort);
  process.stdout.write(`  listening on https://localhost:${port}/.well-known/est/\n`);

  step('5. The agent on a device: nothing but the bootstrap file and an empty state directory');
  const state = join(dir, 'device-state');
  process.stdout.write(
    `$ fleetcert-agent run --bootstrap fleetcert.json --state-dir ${state} --broker 127.0.0.1:${mqttPort} --broker-servername localhost\n`,
  );
  const agent = startAgent([
    'run',
    '--bootstrap',
    boot,
    '--state-dir',
    state,
    '--broker',
    `127.0.0.1:${mqttPort}`,
    '--broker-servername',
    'localhost',
    '--hooks-dir',
    join(dir, 'hooks'),
  ]);
  const deviceId = JSON.parse(await agent.until(/"msg":"device identity"/)).deviceId;
  await agent.until(/connected to the broker over mutual TLS/);

  step("6. Round trip: the device's status went through the broker to the server");
  for (let i = 0; i < 50; i += 1) {
    const shown = JSON.parse(fleetcert(['device', 'show', deviceId, '--json'], { quiet: true, echo: false }));
    if (shown.device.reported?.state === 'online') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  fleetcert(['device', 'show', deviceId]);
  shell('the files other programs on the device use', `ls -l ${state}/live/ | tail -n +2 | awk '{print $1, $NF}'; readlink ${state}/live`);

  step('7. Revoke it: registry, CRL, broker reload, live session ended; the agent reports it and waits (no hot retry loop)');
  fleetcert(['device', 'revoke', deviceId, '--reason', 'keyCompromise', '--passphrase-file', pass]);
  await agent.until(/cannot connect to the broker/, 15_000);
  agent.stop();

  step('Done');
  process.stdout.write(
    keep ? `Files kept in ${dir}\n` : 'The temporary directory is removed. Run "npm run demo -- --keep" to look around afterwards.\n',
  );
} finally {
  const exits = [];
  for (const child of [...agents, server, broker]) {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.removeAllListeners('exit');
      exits.push(new Promise((resolve) => child.once('exit', resolve)));
      child.kill('SIGTERM');
    }
  }
  // The agent writes its status file as it stops: the directory goes only once they are gone (5 s at most).
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5_000).unref())]);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
