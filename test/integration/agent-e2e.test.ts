/**
 * The agent end to end, every part real and in its own process: mosquitto configured by
 * broker-config, `fleetcert serve`, and `fleetcert-agent` starting from an empty state
 * directory with only a bootstrap file. Board identities come from test/fixtures/boards.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { importPrivateKeyPem, exportPublicKeySpki } from '#shared/pki/key-pair.js';
import { sha256Hex } from '#shared/pki/encoding.js';
import { subtle } from '#shared/pki/x509-provider.js';
import { eventsIn, startAgent } from '../helpers/agent-process.js';
import { BOARDS_DIR as BOARDS } from '../helpers/boards.js';
import { AGENT_MAIN, fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { startFleetWithBroker, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { auditRows } from '../helpers/fleet-server.js';
import { openssl, run } from '../helpers/run.js';
import { bootCard } from '../helpers/boot-card.js';

const ctx: { dir?: string; fleet?: FleetWithBroker } = {};
const it = suite('agent-e2e', ctx);

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-agent-'));
  ctx.fleet = await startFleetWithBroker(ctx.dir, ['--pending-retry', '1s']);
});
it.after(async () => {
  await ctx.fleet?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

/** A fresh bootstrap file from `token create` (the enrollment URL inside), plus token args. */
async function bootstrapFile(name: string, tokenArgs: string[] = []): Promise<string> {
  const out = join(ctx.dir!, `${name}.json`);
  const res = await fleetcert([
    'token',
    'create',
    '--data-dir',
    ctx.fleet!.server.dataDir,
    '--name',
    name,
    '--enroll-url',
    `https://localhost:${ctx.fleet!.server.port}`,
    '--out',
    out,
    ...tokenArgs,
  ]);
  assert.is(res.code, 0, res.stderr);
  return out;
}

/** Agent arguments for a board: its own state dir, the bootstrap file, the broker, the identity root. */
function agentArgs(name: string, bootstrap: string, board: string, extra: string[] = []): string[] {
  return [
    '--state-dir',
    join(ctx.dir!, `state-${name}`),
    '--bootstrap',
    bootstrap,
    '--broker',
    `127.0.0.1:${ctx.fleet!.brokerPort}`,
    '--broker-servername',
    'localhost',
    '--identity-root',
    join(BOARDS, board),
    '--hooks-dir',
    join(ctx.dir!, `hooks-${name}`),
    ...extra,
  ];
}

async function deviceJson(id: string) {
  const res = await fleetcert(['device', 'show', id, '--json', '--data-dir', ctx.fleet!.server.dataDir]);
  return res.code === 0 ? JSON.parse(res.stdout) : undefined;
}

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('run: from an empty state dir and a bootstrap file to mTLS on Mosquitto, status visible to the server', async () => {
  const boot = await bootstrapFile('fleet-a');
  const agent = startAgent(['run', ...agentArgs('rpi4', boot, 'rpi4-bookworm-arm64')]);
  try {
    await agent.waitForEvent('mqtt_connected');
    const id = 'rpi4-100000002a5c3b71';
    const shown = await eventually(async () => {
      const d = await deviceJson(id);
      return d?.device.reported?.state === 'online' ? d : undefined;
    });
    assert.is(shown.device.status, 'active');
    assert.is(shown.device.reported.serial, shown.certificates[0].serial);
    assert.is(shown.device.metadata.serial, '100000002a5c3b71');
    assert.is(shown.device.metadata.model, 'Raspberry Pi 4 Model B Rev 1.4');

    const state = join(ctx.dir!, 'state-rpi4');
    assert.ok((await lstat(join(state, 'live'))).isSymbolicLink());
    assert.is(await readlink(join(state, 'live')), 'generations/000001');
    assert.is((await stat(join(state, 'live/key.pem'))).mode & 0o777, 0o600);
    assert.is((await stat(state)).mode & 0o777, 0o700);
    assert.not.ok(
      await stat(join(state, 'pending')).then(
        () => true,
        () => false,
      ),
      'pending/ became the generation',
    );
    await openssl([
      'verify',
      '-purpose',
      'sslclient',
      '-CAfile',
      join(state, 'live/ca.pem'),
      '-untrusted',
      join(state, 'live/chain.pem'),
      join(state, 'live/cert.pem'),
    ]);
    const info = JSON.parse(await readFile(join(state, 'broker.json'), 'utf8'));
    assert.equal(info.broker, { host: '127.0.0.1', port: ctx.fleet!.brokerPort, servername: 'localhost' });
    assert.is(info.files.key, join(state, 'live/key.pem'));

    // The token left the boot partition (anyone holding the card can read FAT): it is in the 0600 state copy.
    const left = await readFile(boot, 'utf8');
    assert.not.match(left, /fct_/);
    assert.is(JSON.parse(left).tokenMovedTo, join(state, 'bootstrap.json'));
    assert.is((await stat(join(state, 'bootstrap.json'))).mode & 0o777, 0o600);
    await agent.waitForEvent('bootstrap_token_moved');

    const status = await fleetcertAgent([
      ...['status', '--json', '--state-dir', state, '--bootstrap', boot],
      ...['--identity-root', join(BOARDS, 'rpi4-bookworm-arm64')],
    ]);
    assert.is(JSON.parse(status.stdout).deviceId, id);
    assert.equal(JSON.parse(status.stdout).token, { location: 'state_dir', paths: [join(state, 'bootstrap.json')] });
  } finally {
    assert.is(await agent.stop(), 0);
  }
  const offline = await eventually(async () =>
    (await deviceJson('rpi4-100000002a5c3b71'))?.device.reported?.state === 'offline' ? true : undefined,
  );
  assert.ok(offline, 'a clean stop publishes offline');
});

it('a read-only boot partition: enrolls all the same, says once that the token stays there, and status says so', async () => {
  // Its own directory, standing for /boot/firmware: only that is mounted read-only.
  const boot = bootCard(ctx.dir!, 'ro', await bootstrapFile('fleet-ro'));
  const before = await readFile(boot, 'utf8');
  // Tests run as root, where file modes do not stop writes: a read-only bind mount in a private
  // mount namespace is what a ro-mounted /boot/firmware looks like to the agent.
  const args = agentArgs('ro', boot, 'rpi4-bookworm-arm64', ['--id-template', 'ro-{serial}']);
  const readOnly = ['-rm', 'sh', '-c', 'mount --bind -o ro "$1" "$1" && shift && exec "$@"', 'sh', dirname(boot)];
  const res = await run('unshare', [...readOnly, process.execPath, AGENT_MAIN, 'enroll', ...args]);
  assert.is(res.code, 0, res.stderr);
  const notMoved = eventsIn(res.stderr, 'bootstrap_token_not_moved');
  assert.is(notMoved.length, 1, 'reported once');
  assert.equal([notMoved[0]!.reason, notMoved[0]!.errno], ['read_only', 'EROFS']);
  assert.match(String(notMoved[0]!.hint), /delete it/);
  assert.not.match(res.stderr, /fct_/);
  assert.is(await readFile(boot, 'utf8'), before, 'untouched');
  const status = await fleetcertAgent(['status', ...args.slice(0, 4), ...args.slice(8, 10)]);
  assert.match(status.stdout, /token +still on the boot partition/);
});

it('a second board with the same bootstrap file gets its own identity; a restart reuses its credentials', async () => {
  const boot = await bootstrapFile('fleet-b', ['--uses', '5']);
  const first = await fleetcertAgent(['enroll', '--json', ...agentArgs('opi', bootCard(ctx.dir!, 'opi', boot), 'orangepi-pc-armbian')]);
  assert.is(first.code, 0, first.stderr);
  const second = await fleetcertAgent(['enroll', '--json', ...agentArgs('vm', bootCard(ctx.dir!, 'vm', boot), 'generic-x86')]);
  assert.is(second.code, 0, second.stderr);
  assert.is(JSON.parse(first.stdout).deviceId, 'opi-pc-2c00081a1b2c3d4');
  assert.is(JSON.parse(second.stdout).deviceId, 'amd-epyc-processor-525400123456');
  const again = await fleetcertAgent(['enroll', '--json', ...agentArgs('opi', bootCard(ctx.dir!, 'opi', boot), 'orangepi-pc-armbian')]);
  assert.is(JSON.parse(again.stdout).enrolledNow, false);
  assert.is(JSON.parse(again.stdout).serialNumber, JSON.parse(first.stdout).serialNumber);
});

it('the private key never leaves: not in anything the agent sent (HTTP, MQTT), logged or wrote elsewhere', async () => {
  const boot = await bootstrapFile('fleet-tap');
  const tap = join(ctx.dir!, 'wire.bin');
  const agent = startAgent(['run', '--log-level', 'debug', ...agentArgs('tap', boot, 'rpi3-bookworm-armhf')], { wireTap: tap });
  await agent.waitForEvent('mqtt_connected');
  await new Promise((r) => setTimeout(r, 300));
  await agent.stop();
  const state = join(ctx.dir!, 'state-tap');
  const keyPem = await readFile(join(state, 'live/key.pem'), 'utf8');
  const keys = await importPrivateKeyPem(keyPem);
  const jwk = await subtle.exportKey('jwk', keys.privateKey);
  const d = Buffer.from(jwk.d!, 'base64url');
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  const secrets: [string, Buffer][] = [
    ['raw private scalar', d],
    ['PKCS#8 DER', pkcs8],
    ['scalar hex', Buffer.from(d.toString('hex'))],
    ['scalar base64url', Buffer.from(jwk.d!)],
    ['PEM body line', Buffer.from(keyPem.split('\n')[1]!)],
  ];
  const wire = await readFile(tap);
  // The tap saw the traffic: the EST request and the MQTT status publish.
  assert.ok(wire.includes('POST /.well-known/est/simpleenroll'), 'the wire tap captured the enrollment');
  assert.ok(wire.includes('fleetcert/devices/rpi3-c3f1e2d4/status'), 'the wire tap captured MQTT');
  const places: [string, Buffer][] = [
    ['wire', wire],
    ['agent log', Buffer.from(agent.logs() + agent.stdout())],
    ['server log', Buffer.from(ctx.fleet!.server.logs())],
    ['broker log', Buffer.from(ctx.fleet!.broker.logs())],
  ];
  for (const file of await filesUnder(ctx.fleet!.server.dataDir)) places.push([file, await readFile(file)]);
  for (const file of await filesUnder(state)) if (!file.endsWith('key.pem')) places.push([file, await readFile(file)]);
  for (const [where, bytes] of places) {
    for (const [what, secret] of secrets) assert.not.ok(bytes.includes(secret), `${what} found in ${where}`);
  }
  // Nothing the agent sent or logged holds any private key at all (the server's own key files do, rightly).
  for (const [where, bytes] of places.slice(0, 2)) assert.not.ok(bytes.includes('PRIVATE KEY'), `a private key block in ${where}`);
  const keyFiles = (await filesUnder(state)).filter((f) => f.endsWith('key.pem'));
  for (const file of keyFiles) assert.is((await stat(file)).mode & 0o777, 0o600, file);
});

it('fingerprint-only bootstrap: the CA is fetched once and checked; a wrong pin stops before the token is sent', async () => {
  const boot = JSON.parse(await readFile(await bootstrapFile('fleet-pin'), 'utf8'));
  delete boot.caCertificate;
  const pinOnly = join(ctx.dir!, 'pin-only.json');
  await writeFile(pinOnly, '\uFEFF' + JSON.stringify(boot, null, 2).replace(/\n/g, '\r\n')); // edited on Windows
  const ok = await fleetcertAgent([
    'enroll',
    '--json',
    ...agentArgs('pin', pinOnly, 'rpi4-bookworm-arm64', ['--id-template', 'pin-{serial}']),
  ]);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(eventsIn(ok.stderr, 'ca_fetch_unverified').length, 1, ok.stderr);

  const wrong = join(ctx.dir!, 'wrong-pin.json');
  await writeFile(wrong, JSON.stringify({ ...boot, caFingerprint: 'ab'.repeat(32) }));
  const auditBefore = auditRows(ctx.fleet!.server.dataDir).length;
  const refused = await fleetcertAgent([
    'enroll',
    ...agentArgs('wrongpin', wrong, 'rpi4-bookworm-arm64', ['--id-template', 'wrong-{serial}']),
  ]);
  assert.is(refused.code, 6, refused.stderr);
  assert.match(refused.stderr, /offers no CA with the pinned SHA-256 .* the token was not sent/);
  assert.is(auditRows(ctx.fleet!.server.dataDir).length, auditBefore, 'the server heard nothing from it');
});

it('manual approval: the agent waits (202, Retry-After) and finishes once the operator approves', async () => {
  const boot = await bootstrapFile('fleet-manual', ['--approval', 'manual']);
  const agent = startAgent(['enroll', ...agentArgs('manual', boot, 'rpi4-bookworm-arm64', ['--id-template', 'manual-{serial}'])]);
  const pending = await agent.waitForEvent('approval_pending');
  assert.match(String(pending.why), 'fleetcert device approve manual-100000002a5c3b71');
  const approve = await fleetcert(['device', 'approve', 'manual-100000002a5c3b71', '--data-dir', ctx.fleet!.server.dataDir]);
  assert.is(approve.code, 0, approve.stderr);
  assert.is(await agent.exited, 0, agent.logs());
  assert.match(agent.stdout(), /Enrolled as manual-100000002a5c3b71/);
});

it('SIGTERM while waiting for approval stops the service at once, cleanly (exit 0)', async () => {
  const boot = await bootstrapFile('fleet-manual-stop', ['--approval', 'manual']);
  const agent = startAgent(['run', ...agentArgs('manualstop', boot, 'rpi4-bookworm-arm64', ['--id-template', 'stop-{serial}'])]);
  await agent.waitForEvent('approval_pending');
  const started = Date.now();
  assert.is(await agent.stop(), 0);
  assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
  assert.is(agent.events('stopped_during_startup').length, 1);
});

it('a refusal is explained in one actionable line: id_taken names the reset command (exit 6)', async () => {
  const boot = await bootstrapFile('fleet-taken');
  const board = (name: string) =>
    agentArgs(name, bootCard(ctx.dir!, name, boot), 'rpi3-bookworm-armhf', ['--id-template', 'taken-{serial}']);
  assert.is((await fleetcertAgent(['enroll', ...board('taken1')])).code, 0);
  const second = await fleetcertAgent(['enroll', ...board('taken2')]);
  assert.is(second.code, 6);
  assert.is(eventsIn(second.stderr, 'enrollment_refused')[0]?.code, 'id_taken');
  assert.match(second.stderr, /fleetcert device reset taken-c3f1e2d4/, 'the message names the command');
});

it('crash-safe: a key made before a failed attempt is reused, and is the key of the installed certificate', async () => {
  const boot = await bootstrapFile('fleet-crash');
  const args = agentArgs('crash', boot, 'rpi4-bookworm-arm64', ['--id-template', 'crash-{serial}']);
  const down = await fleetcertAgent(['enroll', '--timeout', '1', ...args, '--enroll-url', 'https://127.0.0.1:9']);
  assert.is(down.code, 5, down.stderr);
  const state = join(ctx.dir!, 'state-crash');
  const pendingPem = await readFile(join(state, 'pending/key.pem'), 'utf8');
  assert.is((await stat(join(state, 'pending/key.pem'))).mode & 0o777, 0o600);
  const up = await fleetcertAgent(['enroll', ...args]);
  assert.is(up.code, 0, up.stderr);
  const reused = eventsIn(up.stderr, 'key_reused');
  assert.is(reused.length, 1, up.stderr);
  const pendingFp = sha256Hex(await exportPublicKeySpki(await importPrivateKeyPem(pendingPem)));
  const certPub = await openssl(['x509', '-in', join(state, 'live/cert.pem'), '-noout', '-pubkey']);
  const keyPub = await openssl(['pkey', '-pubout'], pendingPem);
  assert.is(certPub, keyPub);
  assert.is(reused[0]!.keySha256, pendingFp);
});

it('hooks run after install with the paths in their environment; a failing hook is reported, not fatal', async () => {
  const boot = await bootstrapFile('fleet-hooks');
  const hooks = join(ctx.dir!, 'hooks-hooked');
  await mkdir(hooks, { recursive: true });
  const seen = join(ctx.dir!, 'hook-env.txt');
  await writeFile(join(hooks, '10-record'), `#!/bin/sh\nenv | grep ^FLEETCERT_ | sort > "${seen}"\n`);
  await writeFile(join(hooks, '20-broken'), '#!/bin/sh\necho "node-red restart failed" >&2\nexit 3\n');
  await writeFile(join(hooks, 'README'), 'not executable: skipped\n');
  await chmod(join(hooks, '10-record'), 0o755);
  await chmod(join(hooks, '20-broken'), 0o755);
  const res = await fleetcertAgent(['enroll', ...agentArgs('hooked', boot, 'rpi4-bookworm-arm64', ['--id-template', 'hooked-{serial}'])]);
  assert.is(res.code, 0, res.stderr);
  const env = await readFile(seen, 'utf8');
  const state = join(ctx.dir!, 'state-hooked');
  assert.match(env, `FLEETCERT_CERT=${state}/live/cert.pem`);
  assert.match(env, `FLEETCERT_KEY=${state}/live/key.pem`);
  assert.match(env, 'FLEETCERT_DEVICE_ID=hooked-100000002a5c3b71');
  assert.match(env, 'FLEETCERT_EVENT=installed');
  const failed = eventsIn(res.stderr, 'hook_failed');
  assert.equal(
    failed.map((f) => f.hook),
    ['20-broken'],
    res.stderr,
  );
  assert.match(String(failed[0]!.detail), /exit 3: node-red restart failed/);
});

it('revoked while running: one clear error, no hot reconnect loop', async () => {
  const boot = await bootstrapFile('fleet-revoked');
  const agent = startAgent(['run', ...agentArgs('revoked', boot, 'rpi4-bookworm-arm64', ['--id-template', 'revoked-{serial}'])]);
  try {
    await agent.waitForEvent('mqtt_connected');
    const mark = ctx.fleet!.broker.logs().length;
    const res = await fleetcert([
      'device',
      'revoke',
      'revoked-100000002a5c3b71',
      '--data-dir',
      ctx.fleet!.server.dataDir,
      '--passphrase-file',
      ctx.fleet!.server.passphraseFile,
    ]);
    assert.is(res.code, 0, res.stderr);
    await agent.waitForEvent('mqtt_refused', 10_000, { match: { code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED' } });
    await new Promise((r) => setTimeout(r, 3_000));
    assert.is(agent.events('mqtt_refused').length, 1, agent.logs());
    // Each refused handshake is one "certificate verify failed" in the broker log: one, not a storm.
    const tries = ctx
      .fleet!.broker.logs()
      .slice(mark)
      .split('\n')
      .filter((l) => /certificate verify failed/.test(l)).length;
    assert.is(tries, 1, `the broker saw ${tries} refused handshakes`);
    assert.is(
      await Promise.race([agent.exited, new Promise((r) => setTimeout(() => r('running'), 200))]),
      'running',
      'the service keeps running and retries slowly',
    );
  } finally {
    await agent.stop();
  }
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

it.run();
