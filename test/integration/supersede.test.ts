/**
 * A superseded certificate stops opening the broker (issue 11, item 2): real `fleetcert serve`
 * with its broker link, real Mosquitto, devices renewed over EST; the attacker holds the old
 * certificate and key and uses mqtt.js and raw TLS handshakes (a handshake alone takes no
 * session over, so probing never kicks the renewed device).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type mqtt from 'mqtt';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { certificatesToPem, describeCertificate } from '#shared/pki/certificate.js';
import { exportPrivateKeyPem } from '#shared/pki/key-pair.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { RENEWAL_INFO_PATH } from '#shared/protocol/renewal-info.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, enrollDevice, est, type EnrolledDevice } from '../helpers/est-client.js';
import { startFleetWithBroker, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { connectDevice } from '../helpers/mqtt-device.js';
import { openssl } from '../helpers/run.js';

/** The bound docs/OPERATIONS.md states: --crl-batch (3 s) plus publishing and reloading. */
const SUPERSEDE_BOUND_MS = 5_000;

const ctx: { dir?: string; fleet?: FleetWithBroker; clients: mqtt.MqttClient[] } = { clients: [] };
const it = suite('supersede', ctx);

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-supersede-'));
  ctx.fleet = await startFleetWithBroker(ctx.dir);
});
it.after.each(async () => {
  await Promise.all(ctx.clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
});
it.after(async () => {
  await ctx.fleet?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

type Credentials = Pick<EnrolledDevice, 'chainPem' | 'keyPem' | 'serial'>;

async function connect(creds: Credentials): Promise<mqtt.MqttClient> {
  const client = await connectDevice(creds, { caPem: ctx.fleet!.caPem, port: ctx.fleet!.brokerPort });
  ctx.clients.push(client);
  return client;
}

/** Announces, as the agent does after connecting, the certificate it is using. */
async function reportOnline(client: mqtt.MqttClient, id: string, serial: string): Promise<void> {
  await client.publishAsync(`fleetcert/devices/${id}/status`, JSON.stringify({ state: 'online', serial }), { qos: 1, retain: true });
}

/** Does the broker accept this certificate in a TLS handshake? (No MQTT CONNECT: no session is touched.) */
function handshake(creds: Credentials): Promise<'accepted' | 'refused'> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: ctx.fleet!.brokerPort,
      servername: 'localhost',
      ca: ctx.fleet!.caPem,
      cert: creds.chainPem,
      key: creds.keyPem,
      maxVersion: 'TLSv1.2',
    });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', () => resolve('refused'));
  });
}

/** Polls handshakes until one is refused; the milliseconds that took, or undefined if never within `limitMs`. */
async function refusedWithin(creds: Credentials, limitMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < limitMs) {
    if ((await handshake(creds)) === 'refused') return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

function reenroll(body: string, current: Credentials) {
  const path = EST_PATHS.simpleReenroll;
  return est(ctx.fleet!.server, { path, contentType: 'application/pkcs10', body, cert: current.chainPem, key: current.keyPem });
}

/** simplereenroll over mTLS with `current`, for a new key: the successor, as an agent installs it. */
async function renew(id: string, current: Credentials): Promise<EnrolledDevice> {
  const csr = await deviceCsr(id);
  const res = await reenroll(csr.body, current);
  assert.is(res.status, 200, `renewal of ${id}: ${res.status} ${res.body}`);
  const chain = decodeCertsOnly(Buffer.from(res.body, 'base64'));
  const serial = describeCertificate(chain[0]!).serialNumber;
  return { id, keys: csr.keys, chainPem: certificatesToPem(chain), keyPem: await exportPrivateKeyPem(csr.keys), serial };
}

/** serve's JSON log lines with this `event`. */
function logEvents(event: string): Record<string, unknown>[] {
  const lines = ctx
    .fleet!.server.logs()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === event);
}

async function crlText(): Promise<string> {
  return openssl(['crl', '-in', join(ctx.fleet!.outDir, 'crl.pem'), '-noout', '-text']);
}

/** Does `openssl crl -text` list this serial with this reason? */
function serialIn(crl: string, serial: string, reason: string): boolean {
  const entry = `Serial Number: ${serial.toUpperCase()}\\s+Revocation Date: [^\\n]+\\s+`;
  return new RegExp(`${entry}CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+${reason}`).test(crl);
}

it('(a) after the first connect with the new certificate, the old one is refused within the bound; the renewed device stays', async () => {
  const id = 'rpi-supersede-a';
  const old = await enrollDevice(ctx.fleet!.server, ctx.fleet!.token, id);
  const before = await connect(old);
  await reportOnline(before, id, old.serial);
  const renewed = await renew(id, old);

  // The agent moves its connection over and says so.
  await before.endAsync();
  const client = await connect(renewed);
  let kicked = false;
  client.on('close', () => (kicked = true));
  await reportOnline(client, id, renewed.serial);
  const tookMs = await refusedWithin(old, SUPERSEDE_BOUND_MS + 3_000);
  assert.ok(tookMs !== undefined, 'the old certificate still opens the broker');
  assert.ok(tookMs < SUPERSEDE_BOUND_MS, `the old certificate was refused only after ${tookMs} ms`);

  // The attacker with the old certificate and key, as an MQTT client: refused, nobody kicked.
  let attack: Error | undefined;
  await connect(old).catch((err: Error) => (attack = err));
  assert.ok(attack, 'an MQTT connection with the old certificate fails');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(client.connected && !kicked, 'the renewed device was never kicked');
  assert.is(await handshake(renewed), 'accepted');
  assert.ok(serialIn(await crlText(), old.serial, 'Superseded'), 'the CRL lists the old certificate as superseded');

  // The old certificate renews nothing any more.
  const again = await deviceCsr(id);
  const res = await reenroll(again.body, old);
  assert.is(res.json?.code, 'certificate_not_current');
});

it('(b) renew-now --key-compromise: the old key is refused as soon as the successor is issued, and its session was ended', async () => {
  const id = 'rpi-compromised-b';
  const old = await enrollDevice(ctx.fleet!.server, ctx.fleet!.token, id);
  const session = await connect(old); // the device (or the thief) on the old key
  const closed = new Promise<number>((resolve) => session.once('close', () => resolve(Date.now())));
  const args = ['renew-now', id, '--key-compromise', '--reason', 'key may have leaked', '--json', '--data-dir', ctx.fleet!.server.dataDir];
  const marked = await fleetcert(args);
  assert.is(marked.code, 0, marked.stderr);
  assert.is(JSON.parse(marked.stdout).keyCompromise, true);
  assert.is(await handshake(old), 'accepted', 'until its successor exists, the marked certificate still works: it must renew');

  const renewed = await renew(id, old);
  const issuedAt = Date.now();
  assert.is(await handshake(old), 'refused', 'the old key is refused at once, no batching');
  const closedAt = await Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000))]);
  assert.ok(closedAt !== undefined, "the old key's live session was ended");
  assert.ok(closedAt <= issuedAt + 500, `session ended ${closedAt - issuedAt} ms after the successor arrived`);
  assert.ok(serialIn(await crlText(), old.serial, 'Key Compromise'), 'the CRL lists it as keyCompromise');

  // Not even a retry of the renewal (the thief's, for instance) gets anything with it now.
  const again = await deviceCsr(id);
  const res = await reenroll(again.body, old);
  assert.is(res.json?.code, 'certificate_not_current');
  const client = await connect(renewed);
  assert.ok(client.connected, 'the successor connects');
});

it('(c) a renewal never proven leaves the old certificate working; an mTLS request with the new one then proves it', async () => {
  const id = 'rpi-unproven-c';
  const old = await enrollDevice(ctx.fleet!.server, ctx.fleet!.token, id);
  const client = await connect(old);
  await reportOnline(client, id, old.serial);
  const renewed = await renew(id, old);
  // The new certificate is never used (say it cannot connect); the device stays on the old one.
  await reportOnline(client, id, old.serial);
  await new Promise((r) => setTimeout(r, SUPERSEDE_BOUND_MS + 500));
  assert.is(await handshake(old), 'accepted', 'the agent may still fall back to the old certificate');
  assert.ok(client.connected);
  assert.not.ok((await crlText()).includes(old.serial.toUpperCase()));

  // A deployment without a broker link learns of the proof from mTLS requests: renewal info here.
  const info = await est(ctx.fleet!.server, { path: RENEWAL_INFO_PATH, method: 'GET', cert: renewed.chainPem, key: renewed.keyPem });
  assert.is(info.status, 200, info.body);
  const tookMs = await refusedWithin(old, SUPERSEDE_BOUND_MS + 3_000);
  assert.ok(tookMs !== undefined && tookMs < SUPERSEDE_BOUND_MS, `refused after ${tookMs} ms`);
  const stale = await est(ctx.fleet!.server, { path: RENEWAL_INFO_PATH, method: 'GET', cert: old.chainPem, key: old.keyPem });
  assert.is(stale.json?.code, 'certificate_not_current');
});

it('(d) a fleet proving its new certificates at once shares batched CRL publications, each old one refused within the bound', async () => {
  const ids = Array.from({ length: 8 }, (_, n) => `rpi-burst-${n}`);
  const olds = await Promise.all(ids.map((id) => enrollDevice(ctx.fleet!.server, ctx.fleet!.token, id)));
  const renewed: EnrolledDevice[] = [];
  for (const [n, id] of ids.entries()) renewed.push(await renew(id, olds[n]!));
  const publications = () => logEvents('crl_published').filter((e) => e.why === 'superseded').length;
  const before = publications();
  const clients = await Promise.all(renewed.map((d) => connect(d)));
  await Promise.all(clients.map((c, n) => reportOnline(c, ids[n]!, renewed[n]!.serial)));
  const took = await Promise.all(olds.map((old) => refusedWithin(old, SUPERSEDE_BOUND_MS + 3_000)));
  assert.ok(
    took.every((ms) => ms !== undefined && ms < SUPERSEDE_BOUND_MS),
    `refused after ${took.join(', ')} ms`,
  );
  assert.ok(publications() - before <= 2, `${publications() - before} publications for ${ids.length} devices`);
  assert.ok(clients.every((c) => c.connected));
});

it.run();
