/**
 * The broker enforces the registry: real Mosquitto 2.0 with the rendered config, devices
 * enrolled over EST, mqtt.js and mosquitto_pub/sub as clients.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type mqtt from 'mqtt';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, enrollDevice, est, type EnrolledDevice } from '../helpers/est-client.js';
import { startFleetWithBroker, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { connectDevice, nextMessage } from '../helpers/mqtt-device.js';
import { openssl, run } from '../helpers/run.js';
import { issueDevice, makeTestPki } from '../helpers/test-pki.js';
import { certificatesToPem } from '#shared/pki/certificate.js';
import { exportPrivateKeyPem } from '#shared/pki/key-pair.js';

const ctx: { dir?: string; fleet?: FleetWithBroker; clients: mqtt.MqttClient[] } = { clients: [] };
const it = suite('broker', ctx);

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-broker-'));
  ctx.fleet = await startFleetWithBroker(ctx.dir);
});
it.after.each(async () => {
  await Promise.all(ctx.clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
});
it.after(async () => {
  await ctx.fleet?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

/** The MQTT 5 reason code of a PUBACK (0 = success; QoS 0 publishes have none). */
const reasonOf = (packet: unknown): number => (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;

/** Publishes at QoS 1 and returns the PUBACK reason code (mqtt.js rejects on codes >= 0x80). */
async function publishReason(client: mqtt.MqttClient, topic: string, payload: string, retain = false): Promise<number> {
  try {
    return reasonOf(await client.publishAsync(topic, payload, { qos: 1, retain }));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw err;
  }
}

async function device(id: string): Promise<EnrolledDevice> {
  return enrollDevice(ctx.fleet!.server, ctx.fleet!.token, id);
}

async function connect(d: { chainPem: string; keyPem: string }, reconnectPeriod = 0): Promise<mqtt.MqttClient> {
  const client = await connectDevice(d, { caPem: ctx.fleet!.caPem, port: ctx.fleet!.brokerPort, reconnectPeriod });
  ctx.clients.push(client);
  return client;
}

it('broker-config wrote files the mosquitto user can read, and only it', async () => {
  const out = ctx.fleet!.outDir;
  const key = await stat(join(out, 'broker.key'));
  if (process.getuid?.() === 0) {
    assert.is(key.mode & 0o777, 0o640);
    assert.is((await stat(out)).mode & 0o777, 0o750);
  } else {
    assert.is(key.mode & 0o777, 0o600);
  }
  assert.match(await readFile(join(out, 'passwd'), 'utf8'), /^fleetcert-admin:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==\n$/);
  assert.match(ctx.fleet!.broker.logs(), /Opening ipv4 listen socket on port/);
  assert.not.match(ctx.fleet!.broker.logs(), /Warning|Error/);
});

it('a device connects over mTLS and publishes/subscribes under devices/<its id>/#', async () => {
  const d = await device('rpi-pubsub-1');
  const client = await connect(d);
  await client.subscribeAsync('devices/rpi-pubsub-1/#', { qos: 1 });
  const got = nextMessage(client);
  assert.is(await publishReason(client, 'devices/rpi-pubsub-1/temperature', '21.5'), 0);
  assert.equal(await got, { topic: 'devices/rpi-pubsub-1/temperature', payload: '21.5' });
});

it("confined: another device's subtree is PUBACK 135; #, $SYS/# and another's subtree deliver nothing", async () => {
  const a = await device('rpi-confined-a');
  const b = await device('rpi-confined-b');
  const clientA = await connect(a);
  const clientB = await connect(b);
  const seenByA: string[] = [];
  const seenByB: string[] = [];
  clientA.on('message', (topic) => seenByA.push(topic));
  clientB.on('message', (topic) => seenByB.push(topic));
  await clientB.subscribeAsync('devices/rpi-confined-b/#', { qos: 1 });
  // Mosquitto 2.0 grants these subscriptions and enforces the ACL on every delivery.
  await clientA.subscribeAsync(['#', '$SYS/#', 'devices/rpi-confined-b/#', 'fleetcert/devices/+/status'], { qos: 1 });

  assert.is(await publishReason(clientA, 'devices/rpi-confined-b/cmd', 'open the valve'), 135, 'PUBACK: not authorized');
  assert.is(
    await publishReason(clientA, 'fleetcert/devices/rpi-confined-b/status', '{"state":"offline"}', true),
    135,
    "cannot forge another device's status",
  );
  assert.is(await publishReason(clientA, 'fleetcert/devices/rpi-confined-b/command', '{}'), 135, 'cannot send commands');
  assert.is(
    await publishReason(clientA, '$fleetcert/devices/rpi-confined-b/bridge', '0', true),
    135,
    "cannot forge another device's bridge state",
  );
  assert.is(await publishReason(clientB, 'devices/rpi-confined-b/reading', '42'), 0);
  assert.is(await publishReason(clientB, 'fleetcert/devices/rpi-confined-b/status', '{"state":"online"}', true), 0);
  assert.is(
    await publishReason(clientB, '$fleetcert/devices/rpi-confined-b/bridge', '1', true),
    0,
    'its own bridge state (local broker mode)',
  );
  await new Promise((r) => setTimeout(r, 1_500)); // $SYS is published every second here
  assert.equal(seenByA, [], "A saw nothing of B's, of $SYS, or of anyone's status");
  assert.equal(seenByB, ['devices/rpi-confined-b/reading'], "B never saw A's message, only its own");
});

it('a certificate from a foreign CA is refused in the TLS handshake', async () => {
  const foreign = await makeTestPki(new Date(), 'ec-p256', 'Foreign');
  const fake = await issueDevice(foreign, 'rpi-pubsub-1');
  const creds = {
    chainPem: certificatesToPem([fake.certificate, foreign.intermediate.certificate]),
    keyPem: await exportPrivateKeyPem(fake.keys),
  };
  let error: Error | undefined;
  await connect(creds).catch((err: Error) => (error = err));
  assert.ok(error, 'the connection must fail');
  assert.match(error.message, /alert|unknown ca|certificate|socket hang up|ECONNRESET/i);
});

it('mosquitto_pub / mosquitto_sub with the issued files behave the same', async () => {
  // One connection per identity (client id = CN): a second client with the same certificate
  // takes the session over. So the subscriber is one device and the publisher another.
  const sub = await device('rpi-cli-sub');
  const pub = await device('rpi-cli-pub');
  const dir = ctx.dir!;
  await writeFile(join(dir, 'ca-bundle.pem'), ctx.fleet!.caPem);
  const files = async (d: EnrolledDevice) => {
    await writeFile(join(dir, `${d.id}.crt`), d.chainPem);
    await writeFile(join(dir, `${d.id}.key`), d.keyPem, { mode: 0o600 });
    return ['--cert', join(dir, `${d.id}.crt`), '--key', join(dir, `${d.id}.key`)];
  };
  const base = ['-h', '127.0.0.1', '-p', String(ctx.fleet!.brokerPort), '--cafile', join(dir, 'ca-bundle.pem'), '-V', 'mqttv5'];
  const subArgs = [...base, ...(await files(sub))];
  const pubArgs = [...base, ...(await files(pub))];

  // mosquitto_sub as a device receives a command the operator sends it.
  const waiting = run('mosquitto_sub', [...subArgs, '-t', 'fleetcert/devices/rpi-cli-sub/command', '-C', '1', '-W', '8']);
  await new Promise((r) => setTimeout(r, 700));
  assert.is((await fleetcert(['renew-now', 'rpi-cli-sub', '--data-dir', ctx.fleet!.server.dataDir])).code, 0);
  const received = await waiting;
  assert.is(JSON.parse(received.stdout).command, 'renew', received.stderr);

  // mosquitto_pub as a device: its own status is accepted (the server records it) ...
  const ok = await run('mosquitto_pub', [
    ...pubArgs,
    '-t',
    'fleetcert/devices/rpi-cli-pub/status',
    '-r',
    '-q',
    '1',
    '-m',
    '{"state":"online"}',
  ]);
  assert.is(ok.code, 0, ok.stderr);
  // ... another device's subtree is not, and without a client certificate nothing is.
  const denied = await run('mosquitto_pub', [...pubArgs, '-t', 'devices/rpi-cli-sub/x', '-m', 'no', '-q', '1']);
  assert.match(denied.stderr + denied.stdout, /not authori[sz]ed/i);
  const anonymous = await run('mosquitto_pub', [...base, '-t', 'devices/rpi-cli-pub/x', '-m', 'no']);
  assert.is.not(anonymous.code, 0, 'no client certificate: refused');
  let reported: string | undefined;
  for (let i = 0; i < 30 && reported !== 'online'; i += 1) {
    await new Promise((r) => setTimeout(r, 100));
    reported = JSON.parse((await fleetcert(['device', 'show', 'rpi-cli-pub', '--json', '--data-dir', ctx.fleet!.server.dataDir])).stdout)
      .device.reported?.state;
  }
  assert.is(reported, 'online');
});

it('the server records what devices report on their status topic', async () => {
  const d = await device('rpi-status-1');
  const client = await connect(d);
  await client.publishAsync(
    'fleetcert/devices/rpi-status-1/status',
    JSON.stringify({ state: 'online', serial: d.serial, agentVersion: '0.1.0' }),
    { qos: 1, retain: true },
  );
  let shown: { device: { reported: { state: string; serial: string } | null } } | undefined;
  for (let i = 0; i < 40 && !shown?.device.reported; i += 1) {
    await new Promise((r) => setTimeout(r, 100));
    shown = JSON.parse((await fleetcert(['device', 'show', 'rpi-status-1', '--json', '--data-dir', ctx.fleet!.server.dataDir])).stdout);
  }
  assert.equal(shown?.device.reported && { state: shown.device.reported.state, serial: shown.device.reported.serial }, {
    state: 'online',
    serial: d.serial,
  });
});

it('renew-now reaches the named device on its command topic, and only it', async () => {
  const a = await device('rpi-renew-a');
  const b = await device('rpi-renew-b');
  const clientA = await connect(a);
  const clientB = await connect(b);
  await clientA.subscribeAsync('fleetcert/devices/rpi-renew-a/command', { qos: 1 });
  await clientB.subscribeAsync('fleetcert/devices/rpi-renew-b/command', { qos: 1 });
  let bGot = false;
  clientB.on('message', () => (bGot = true));
  const got = nextMessage(clientA);
  const res = await fleetcert(['renew-now', 'rpi-renew-a', '--reason', 'CA rotation', '--data-dir', ctx.fleet!.server.dataDir]);
  assert.is(res.code, 0, res.stderr);
  const message = await got;
  assert.is(message.topic, 'fleetcert/devices/rpi-renew-a/command');
  assert.is(JSON.parse(message.payload).command, 'renew');
  assert.is(JSON.parse(message.payload).reason, 'CA rotation');
  await new Promise((r) => setTimeout(r, 200));
  assert.not.ok(bGot);
});

it('revocation bites: the live session ends within 2 s, new handshakes fail, re-enrollment is refused, others stay', async () => {
  const victim = await device('rpi-revoke-1');
  const bystander = await device('rpi-revoke-2');
  const victimClient = await connect(victim, 100); // reconnects hot, like a naive agent
  const bystanderClient = await connect(bystander);
  let bystanderClosed = false;
  bystanderClient.on('close', () => (bystanderClosed = true));
  const victimClosed = new Promise<number>((resolve) => victimClient.once('close', () => resolve(Date.now())));
  let reconnected = 0;
  victimClient.on('connect', () => (reconnected += 1));

  const started = Date.now();
  const res = await fleetcert([
    'device',
    'revoke',
    'rpi-revoke-1',
    '--reason',
    'keyCompromise',
    '--json',
    '--data-dir',
    ctx.fleet!.server.dataDir,
    '--passphrase-file',
    ctx.fleet!.server.passphraseFile,
  ]);
  assert.is(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout);
  assert.equal(out.revokedSerials, [victim.serial]);
  assert.is(out.sessionEnded, true);
  const closedAt = await victimClosed;
  assert.ok(closedAt - started < 2_000, `session ended after ${closedAt - started} ms`);

  await new Promise((r) => setTimeout(r, 1_000)); // the hot reconnects all fail
  assert.is(reconnected, 0, 'the revoked device never got back in');
  assert.not.ok(victimClient.connected);
  victimClient.end(true);

  let handshake: Error | undefined;
  await connect(victim).catch((err: Error) => (handshake = err));
  assert.ok(handshake, 'a new connection with the revoked certificate fails');

  assert.ok(bystanderClient.connected && !bystanderClosed, 'the other device stayed connected');
  assert.is(await publishReason(bystanderClient, 'devices/rpi-revoke-2/still-here', 'yes'), 0);

  const crl = await openssl(['crl', '-in', join(ctx.fleet!.outDir, 'crl.pem'), '-noout', '-text']);
  assert.match(crl, new RegExp(`Serial Number: ${victim.serial.toUpperCase()}[\\s\\S]*Key Compromise`));

  const csr = await deviceCsr('rpi-revoke-1');
  const renew = await est(ctx.fleet!.server, {
    path: EST_PATHS.simpleReenroll,
    contentType: 'application/pkcs10',
    body: csr.body,
    cert: victim.chainPem,
    key: victim.keyPem,
  });
  assert.is(renew.status, 403);
  assert.is(renew.json?.code, 'device_revoked');
  const again = await est(ctx.fleet!.server, {
    path: EST_PATHS.simpleEnroll,
    token: ctx.fleet!.token,
    contentType: 'application/pkcs10',
    body: csr.body,
  });
  assert.is(again.json?.code, 'device_revoked');
});

it('crl publish: a new, higher CRL number; the broker keeps accepting good devices', async () => {
  const before = await openssl(['crl', '-in', join(ctx.fleet!.outDir, 'crl.pem'), '-noout', '-crlnumber']);
  const res = await fleetcert([
    'crl',
    'publish',
    '--json',
    '--data-dir',
    ctx.fleet!.server.dataDir,
    '--passphrase-file',
    ctx.fleet!.server.passphraseFile,
  ]);
  assert.is(res.code, 0, res.stderr);
  const after = await openssl(['crl', '-in', join(ctx.fleet!.outDir, 'crl.pem'), '-noout', '-crlnumber']);
  const hex = (s: string) => BigInt(s.trim().split('=')[1]!);
  assert.ok(hex(after) > hex(before), `${before} -> ${after}`);
  assert.is(JSON.parse(res.stdout).reload, 'signalled');
  const client = await connect(await device('rpi-after-crl'));
  assert.ok(client.connected);
});

it.run();
