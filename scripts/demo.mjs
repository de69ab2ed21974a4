#!/usr/bin/env node
// The README's main command. Sets itself up (npm ci, Debian packages when root, build), then
// runs fleetcert as an operator would, in a temporary directory on loopback ports, and shows
// each step: the CA, a fleet token and its bootstrap file, a real Mosquitto configured by
// broker-config, the enrollment server, a device enrolling with nothing but openssl and curl,
// talking MQTT over mutual TLS, confined by the ACL, then revoked and cut off. It grows into
// the full agent-on-a-board demo as the agent lands.
// Usage: npm run demo [-- --keep]   (--keep leaves the temporary directory for a look)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl', 'curl', 'mosquitto', 'mosquitto_pub'] });

const keep = process.argv.includes('--keep');
const dir = mkdtempSync(join(tmpdir(), 'fleetcert-demo-'));
const data = join(dir, 'server');
const pass = join(dir, 'ca-passphrase');
const cli = join(ROOT, 'dist', 'server', 'main.js');
let server;
let broker;

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
function fleetcert(args, { quiet = false } = {}) {
  process.stdout.write(`$ fleetcert ${args.join(' ')}\n`);
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

async function startServer() {
  server = spawn(process.execPath, [cli, 'serve', '--data-dir', data, '--passphrase-file', pass, '--listen', '127.0.0.1:0', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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

  step('2. One fleet token for up to 50 boards named rpi-*, and its bootstrap file');
  const boot = join(dir, 'fleetcert.json');
  fleetcert(['token', 'create', '--name', 'demo-fleet', '--uses', '50', '--expires', '1d', '--id-pattern', 'rpi-*', '--label', 'site=demo', '--out', boot]);
  const token = JSON.parse(readFileSync(boot, 'utf8')).token;

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
  fleetcert(['broker-config', '--out', join(dir, 'broker'), '--port', String(mqttPort), '--bind', '127.0.0.1', '--admin-port', String(adminPort),
    '--host', 'localhost', '--reload-pid-file', join(run, 'mosquitto.pid'), '--passphrase-file', pass]);
  await startBroker(join(dir, 'broker'), join(run, 'mosquitto.pid'));
  process.stdout.write(`  mosquitto is running with it on 127.0.0.1:${mqttPort}\n`);

  step('4. Start the enrollment server (EST over HTTPS)');
  const port = await startServer();
  process.stdout.write(`  listening on https://localhost:${port}/.well-known/est/\n`);

  step('5. A device enrolls with nothing but openssl and curl (the agent does the same, by itself)');
  shell(
    'make a key on the device; it never leaves',
    `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out device.key 2>/dev/null && chmod 600 device.key
     echo "device.key: $(stat -c %a device.key), $(openssl pkey -in device.key -noout -text 2>/dev/null | grep -m1 -o 'ASN1 OID: .*')"`,
  );
  shell(
    'send a CSR with the fleet token; get the certificate back',
    `openssl req -new -key device.key -subj /CN=rpi-demo-0001 -outform DER | base64 > csr.b64
     curl -sS --fail --cacert server/ca/root.pem -u "rpi-demo-0001:$TOKEN" -H 'Content-Type: application/pkcs10' \\
       --data-binary @csr.b64 https://localhost:${port}/.well-known/est/simpleenroll | base64 -d > issued.p7
     openssl pkcs7 -inform DER -in issued.p7 -print_certs -out chain.pem
     openssl x509 -in chain.pem -noout -subject -enddate -ext extendedKeyUsage`,
    { TOKEN: token },
  );
  shell(
    'check it independently: chains to the pinned root, valid for TLS client auth',
    'openssl verify -purpose sslclient -CAfile server/ca/root.pem -untrusted chain.pem chain.pem',
  );
  shell(
    'a wrong token is refused with a precise code',
    `curl -sS --cacert server/ca/root.pem -u "rpi-demo-0002:fct_aaaaaaaaaa_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-43)" \\
       -H 'Content-Type: application/pkcs10' --data-binary @csr.b64 -w '  -> HTTP %{http_code}\\n' https://localhost:${port}/.well-known/est/simpleenroll`,
  );

  step('6. The device talks MQTT over mutual TLS, confined to its own topics');
  const mqtt = `-h 127.0.0.1 -p ${mqttPort} --cafile broker/ca.pem --cert chain.pem --key device.key -V mqttv5 -q 1`;
  shell('publish its status and a reading (its certificate CN is its MQTT identity)',
    `mosquitto_pub ${mqtt} -t fleetcert/devices/rpi-demo-0001/status -r -m '{"state":"online"}' && echo "status: accepted"
     mosquitto_pub ${mqtt} -t devices/rpi-demo-0001/temperature -m 21.5 && echo "devices/rpi-demo-0001/temperature: accepted"`);
  shell("try another device's topics", `mosquitto_pub ${mqtt} -t devices/rpi-demo-0002/valve -m open 2>&1 | sed 's|^|devices/rpi-demo-0002/valve: |' || true`);
  await new Promise((r) => setTimeout(r, 500));
  fleetcert(['device', 'list']);

  step('7. Revoke it: registry, CRL, broker reload, live session ended');
  fleetcert(['device', 'revoke', 'rpi-demo-0001', '--reason', 'keyCompromise', '--passphrase-file', pass]);
  shell('the same certificate is now refused in the TLS handshake (the broker sends the alert)',
    `out=$(openssl s_client -tls1_2 -connect 127.0.0.1:${mqttPort} -servername localhost -CAfile broker/ca.pem -cert chain.pem -key device.key </dev/null 2>&1 || true)
     echo "openssl s_client: $(echo "$out" | grep -o -m1 'alert certificate [a-z]*' | head -n1)"
     mosquitto_pub ${mqtt} -t devices/rpi-demo-0001/temperature -m 22 2>&1 | head -1 | sed 's|^|mosquitto_pub: |' || true`);

  step('8. What the registry knows');
  fleetcert(['device', 'show', 'rpi-demo-0001']);
  fleetcert(['token', 'list']);

  step('Done');
  process.stdout.write(
    keep ? `Files kept in ${dir}\n` : 'The temporary directory is removed. Run "npm run demo -- --keep" to look around afterwards.\n',
  );
} finally {
  for (const child of [server, broker]) {
    if (child && child.exitCode === null) {
      child.removeAllListeners('exit');
      child.kill('SIGTERM');
    }
  }
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
