/**
 * Service grants reach every broker of a scale-out (issue 16): two hosts, each with its own data
 * directory, `fleetcert serve` and real Mosquitto, on one PostgreSQL. `fleetcert service issue` runs
 * on host A only; host B's serve re-renders B's ACL from the registry (--acl-refresh) and reloads
 * B, so the service reads its granted topic on broker B. Revoked at A, it reads nothing on B.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mqtt from 'mqtt';
import { fleetcert } from '../helpers/cli.js';
import { enrollDevice } from '../helpers/est-client.js';
import { initDataDir, serverEvents, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { connectDevice, nextMessage } from '../helpers/mqtt-device.js';
import { freePort } from '../helpers/ports.js';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.js';

interface Host {
  dataDir: string;
  out: string;
  port: number;
  server?: FleetServer;
  broker?: Broker;
}
const ctx = {} as {
  dir: string;
  cluster: PostgresCluster;
  url: string;
  passphraseFile: string;
  a: Host;
  b: Host;
  clients: mqtt.MqttClient[];
};
const it = suite('scale-out: service grants on every broker');

const dbEnv = () => ({ FLEETCERT_DATABASE: ctx.url, FLEETCERT_DATABASE_PASSWORD_FILE: ctx.cluster.passwordFile });

async function cli(args: readonly string[]) {
  const res = await fleetcert(args, { env: dbEnv(), timeoutMs: 60_000 });
  if (res.code !== 0) throw new Error(`fleetcert ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res;
}

async function brokerConfig(host: Host, run: string, name: string): Promise<void> {
  await cli([
    ...['broker-config', '--data-dir', host.dataDir, '--passphrase-file', ctx.passphraseFile, '--out', host.out],
    ...['--port', String(host.port), '--bind', '127.0.0.1', '--admin-port', String(await freePort()), '--host', 'localhost'],
    ...['--reload-pid-file', join(run, `${name}.pid`)],
  ]);
  host.broker = await startMosquitto(join(ctx.dir, name), host.out, join(run, `${name}.pid`));
}

/** Resolves once host B's serve has logged `count` ACL refreshes. */
async function refreshesAtB(count: number): Promise<void> {
  const started = Date.now();
  while (serverEvents(ctx.b.server!).filter((e) => e.event === 'broker_acl_refreshed').length < count) {
    if (Date.now() - started > 10_000) throw new Error(`host B refreshed its ACL fewer than ${count} times:\n${ctx.b.server!.logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 400)); // Mosquitto acts on SIGHUP in its own loop
}

const connect = async (creds: { chainPem: string; keyPem: string }, host: Host): Promise<mqtt.MqttClient> => {
  const client = await connectDevice(creds, { caPem: await readFile(join(host.out, 'ca.pem'), 'utf8'), port: host.port });
  ctx.clients.push(client);
  return client;
};

it.before(async () => {
  ctx.clients = [];
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-acl-'));
  ctx.cluster = await startPostgres({ durable: false });
  ctx.url = await ctx.cluster.createDatabase();
  const first = await initDataDir(ctx.dir);
  ctx.passphraseFile = first.passphraseFile;
  await cli(['db', 'migrate']);
  const run = join(ctx.dir, 'run');
  await mkdir(run);
  for (const name of ['a', 'b']) await mkdir(join(ctx.dir, name));
  if (process.getuid?.() === 0) {
    await chmod(ctx.dir, 0o755);
    await chown(run, Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim()), 0);
  }
  // Two hosts: each its own copy of the CA files, its own broker, one database.
  ctx.a = { dataDir: first.dataDir, out: join(ctx.dir, 'a', 'broker'), port: await freePort() };
  ctx.b = { dataDir: join(ctx.dir, 'data-b'), out: join(ctx.dir, 'b', 'broker'), port: await freePort() };
  await cp(first.dataDir, ctx.b.dataDir, { recursive: true, preserveTimestamps: true });
  await brokerConfig(ctx.a, run, 'a');
  await brokerConfig(ctx.b, run, 'b');
  const dbArgs = ['--database', ctx.url, '--database-password-file', ctx.cluster.passwordFile, '--acl-refresh', '1s'];
  for (const host of [ctx.a, ctx.b])
    host.server = await startServer(ctx.dir, dbArgs, { dataDir: host.dataDir, passphraseFile: ctx.passphraseFile });
});

it.after(async () => {
  for (const client of ctx.clients ?? []) await client.endAsync(true).catch(() => undefined);
  for (const host of [ctx.a, ctx.b]) {
    await host?.server?.stop().catch(() => undefined);
    await host?.broker?.stop().catch(() => undefined);
  }
  await ctx.cluster?.stop();
  await rm(ctx.dir, { recursive: true, force: true });
});

it('a service issued at host A reads its granted topic on broker B; revoked at A, it reads nothing there', async () => {
  const token = JSON.parse((await cli(['token', 'create', '--data-dir', ctx.a.dataDir, '--name', 'acl', '--json'])).stdout) as {
    token: string;
  };
  const device = await enrollDevice(ctx.a.server!, token.token, 'dev-1');
  const before = serverEvents(ctx.b.server!).filter((e) => e.event === 'broker_acl_refreshed').length;
  const outDir = join(ctx.dir, 'telegraf');
  await cli([
    ...['service', 'issue', 'telegraf', '--read', 'devices/+/temp', '--out-dir', outDir],
    ...['--data-dir', ctx.a.dataDir, '--passphrase-file', ctx.passphraseFile, '--json'],
  ]);
  await refreshesAtB(before + 1);
  assert.match(await readFile(join(ctx.b.out, 'acl'), 'utf8'), /\nuser service:telegraf\ntopic read devices\/\+\/temp\n/);

  const creds = { chainPem: await readFile(join(outDir, 'cert.pem'), 'utf8'), keyPem: await readFile(join(outDir, 'key.pem'), 'utf8') };
  const service = await connect(creds, ctx.b);
  const publisher = await connect(device, ctx.b);
  await service.subscribeAsync('devices/+/temp', { qos: 1 });
  const received = nextMessage(service, 5_000);
  await publisher.publishAsync('devices/dev-1/temp', '21.5', { qos: 1 });
  assert.equal(await received, { topic: 'devices/dev-1/temp', payload: '21.5' });

  await cli(['service', 'revoke', 'telegraf', '--data-dir', ctx.a.dataDir, '--passphrase-file', ctx.passphraseFile, '--json']);
  await refreshesAtB(before + 2);
  assert.not.match(await readFile(join(ctx.b.out, 'acl'), 'utf8'), /service:telegraf/);
  // B has not synced the CRL (no crl sync here): the certificate still connects, and the ACL alone refuses it every read.
  const again = await connect(creds, ctx.b);
  await again.subscribeAsync('devices/+/temp', { qos: 1 });
  const nothing = nextMessage(again, 1_500).then(
    (message) => assert.unreachable(`a revoked service read ${message.topic} on broker B`),
    () => undefined,
  );
  await publisher.publishAsync('devices/dev-1/temp', '22.0', { qos: 1 });
  await nothing;
});

it.run();
