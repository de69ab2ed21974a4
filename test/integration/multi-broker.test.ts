/**
 * Many brokers, one revocation (issue 16 item 4), with two real Mosquitto brokers: `device revoke`
 * ends the device's live session on both (broker-config --peer-admin), broker A gets its CRL from
 * serve, broker B from `fleetcert crl sync` against the CRL distribution point; afterwards both
 * refuse the revoked certificate in the handshake. `crl sync` also refuses what it must: a CRL
 * from another CA, an older one, an expired one; and leaves the installed file alone.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mqtt from 'mqtt';
import { loadAuthority } from '#server/authority/authority.js';
import type { CrlSigner } from '#server/authority/crl-signer.js';
import { PeculiarCrlSigner } from '#server/authority/peculiar-crl-signer.js';
import { dataLayout } from '#server/config/data-layout.js';
import { parseCrl } from '#shared/pki/crl.js';
import { fleetcert } from '../helpers/cli.js';
import { enrollDevice } from '../helpers/est-client.js';
import { createToken, initDataDir, startServer, waitForEvent, type FleetServer } from '../helpers/fleet-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { connectDevice } from '../helpers/mqtt-device.js';
import { freePort } from '../helpers/ports.js';
import { makeTestPki } from '../helpers/test-pki.js';

interface Side {
  out: string;
  port: number;
  adminPort: number;
  pidFile: string;
  broker?: Broker;
}
const ctx = {} as { dir: string; dataDir: string; passphraseFile: string; a: Side; b: Side; server: FleetServer; crlUrl: string };
const it = suite('multi-broker: one revocation, two Mosquitto brokers');

async function cli(args: readonly string[]) {
  const res = await fleetcert(args, { timeoutMs: 60_000 });
  if (res.code !== 0) throw new Error(`fleetcert ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res;
}

async function side(name: string): Promise<Side> {
  const work = join(ctx.dir, name);
  await mkdir(work, { mode: 0o755 });
  return { out: join(work, 'broker'), port: await freePort(), adminPort: await freePort(), pidFile: join(ctx.dir, 'run', `${name}.pid`) };
}

function brokerConfig(s: Side, peers: readonly Side[]): Promise<unknown> {
  const peerArgs = peers.flatMap((p) => ['--peer-admin', `127.0.0.1:${p.adminPort}`]);
  return cli([
    'broker-config',
    '--data-dir',
    ctx.dataDir,
    '--passphrase-file',
    ctx.passphraseFile,
    '--out',
    s.out,
    '--port',
    String(s.port),
    '--bind',
    '127.0.0.1',
    '--admin-port',
    String(s.adminPort),
    '--host',
    'localhost',
    '--reload-pid-file',
    s.pidFile,
    ...peerArgs,
  ]);
}

const syncArgs = (url: string, out: string) => ['crl', 'sync', '--url', url, '--out', out, '--ca', join(ctx.b.out, 'ca.pem'), '--json'];
const reloadB = () => `kill -HUP $(cat ${ctx.b.pidFile})`;

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-brokers-'));
  const root = process.getuid?.() === 0;
  if (root) await chmod(ctx.dir, 0o755);
  await mkdir(join(ctx.dir, 'run'));
  if (root) await chown(join(ctx.dir, 'run'), Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim()), 0);
  ({ dataDir: ctx.dataDir, passphraseFile: ctx.passphraseFile } = await initDataDir(ctx.dir));
  ctx.a = await side('a');
  ctx.b = await side('b');
  // B's files first (as copied onto its host), then A's: broker.json describes A, with B as its peer.
  await brokerConfig(ctx.b, []);
  await brokerConfig(ctx.a, [ctx.b]);
  ctx.a.broker = await startMosquitto(join(ctx.dir, 'a'), ctx.a.out, ctx.a.pidFile);
  ctx.b.broker = await startMosquitto(join(ctx.dir, 'b'), ctx.b.out, ctx.b.pidFile);
  ctx.server = await startServer(ctx.dir, ['--crl-listen', '127.0.0.1:0'], { dataDir: ctx.dataDir, passphraseFile: ctx.passphraseFile });
  ctx.crlUrl = String((await waitForEvent(ctx.server, 'crl_distribution_point')).url).replace('localhost', '127.0.0.1');
});

it.after(async () => {
  await ctx.server?.stop();
  await ctx.a?.broker?.stop();
  await ctx.b?.broker?.stop();
  await rm(ctx.dir, { recursive: true, force: true });
});

const connect = async (creds: { chainPem: string; keyPem: string }, s: Side): Promise<mqtt.MqttClient> =>
  connectDevice(creds, { caPem: await readFile(join(s.out, 'ca.pem'), 'utf8'), port: s.port });

it('crl sync installs the served CRL on broker B, keeps its mode, and a second run changes nothing', async () => {
  const before = await stat(join(ctx.b.out, 'crl.pem'));
  const first = JSON.parse((await cli([...syncArgs(ctx.crlUrl, join(ctx.b.out, 'crl.pem')), '--reload-command', reloadB()])).stdout);
  assert.is(first.changed, true);
  assert.is(first.reloaded, true);
  const after = await stat(join(ctx.b.out, 'crl.pem'));
  assert.is(after.mode & 0o777, before.mode & 0o777);
  assert.is(after.gid, before.gid);
  const second = JSON.parse((await cli(syncArgs(ctx.crlUrl, join(ctx.b.out, 'crl.pem')))).stdout);
  assert.equal([second.changed, second.why, second.crlNumber], [false, 'not-modified', first.crlNumber]);
});

it('device revoke ends the live session on both brokers; after crl sync both refuse the certificate', async () => {
  const { token } = await createToken(ctx.dataDir);
  const device = await enrollDevice(ctx.server, token, 'roamer-1');
  const onA = await connect(device, ctx.a);
  const onB = await connect(device, ctx.b);
  const closed = (c: mqtt.MqttClient) => new Promise<number>((resolve) => c.once('close', () => resolve(Date.now())));
  const [closedA, closedB] = [closed(onA), closed(onB)];
  const started = Date.now();
  const out = JSON.parse(
    (await cli(['device', 'revoke', 'roamer-1', '--json', '--data-dir', ctx.dataDir, '--passphrase-file', ctx.passphraseFile])).stdout,
  );
  assert.is(out.sessionEnded, true);
  for (const at of await Promise.all([closedA, closedB])) assert.ok(at - started < 3_000, `session ended after ${at - started} ms`);
  onA.end(true);
  onB.end(true);
  await connect(device, ctx.a).then(
    (c) => (c.end(true), assert.unreachable('broker A let the revoked certificate in')),
    () => undefined,
  );
  const synced = JSON.parse((await cli([...syncArgs(ctx.crlUrl, join(ctx.b.out, 'crl.pem')), '--reload-command', reloadB()])).stdout);
  assert.is(synced.changed, true);
  await new Promise((r) => setTimeout(r, 300)); // Mosquitto acts on SIGHUP in its loop
  await connect(device, ctx.b).then(
    (c) => (c.end(true), assert.unreachable('broker B let the revoked certificate in')),
    () => undefined,
  );
  const installed = await parseCrl(await readFile(join(ctx.b.out, 'crl.pem'), 'utf8'));
  assert.ok(installed.entries.some((e) => e.serialNumber === device.serial));
});

it('crl sync refuses a CRL of another CA, an older one and an expired one, leaving the installed file as it was', async () => {
  const file = join(ctx.b.out, 'crl.pem');
  const installed = await readFile(file, 'utf8');
  const current = (await parseCrl(installed)).crlNumber!;
  const now = Date.now();
  const passphrase = (await readFile(ctx.passphraseFile, 'utf8')).trim();
  const ours = (await loadAuthority(dataLayout(ctx.dataDir), passphrase)).crlSigner;
  const stranger = new PeculiarCrlSigner((await makeTestPki(new Date(now))).intermediate);
  const sign = (signer: CrlSigner, crlNumber: number, from: number, to: number) =>
    signer.sign({ entries: [], thisUpdate: new Date(from), nextUpdate: new Date(to), crlNumber });
  const cases: [string, Uint8Array, RegExp][] = [
    ['another CA', await sign(stranger, current + 10, now - 60_000, now + 3_600_000), /issuer|signature/],
    ['an older number', await sign(ours, current - 1, now - 60_000, now + 3_600_000), /older than the installed/],
    ['an expired CRL', await sign(ours, current + 10, now - 7_200_000, now - 3_600_000), /past its nextUpdate/],
    ['not a CRL', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), /crl_invalid|not a DER/],
  ];
  let body: Uint8Array = new Uint8Array();
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/crl`;
  try {
    for (const [name, der, message] of cases) {
      body = der;
      const res = await fleetcert(syncArgs(url, file));
      assert.is(res.code, 3, `${name}: ${res.stderr}`);
      assert.match(res.stderr, message, name);
      assert.is(await readFile(file, 'utf8'), installed, `${name}: file untouched`);
    }
    const down = await fleetcert(syncArgs('http://127.0.0.1:1/crl', file));
    assert.is(down.code, 1);
    assert.match(down.stderr, /cannot fetch the CRL/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

it('serve --crl-listen without a broker refuses to start: there would be no CRL to serve', async () => {
  await mkdir(join(ctx.dir, 'bare'));
  const bare = await initDataDir(join(ctx.dir, 'bare'));
  const res = await fleetcert([
    'serve',
    '--data-dir',
    bare.dataDir,
    '--passphrase-file',
    bare.passphraseFile,
    '--listen',
    '127.0.0.1:0',
    '--crl-listen',
    '127.0.0.1:0',
  ]);
  assert.is(res.code, 5, res.stderr);
  assert.match(res.stderr, /hint: run "fleetcert broker-config" first/);
});

it.run();
