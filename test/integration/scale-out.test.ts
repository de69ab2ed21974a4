/**
 * Three `fleetcert serve` processes on one PostgreSQL (issue 16): each guarantee that must hold
 * across instances, through the real programs. The instances share nothing but the database and
 * a copy of the CA files (as three hosts would); the admin CLI reaches the same database through
 * FLEETCERT_DATABASE.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { postgresConnection } from '#server/config/database-url.js';
import { describeCertificate, readCertificates } from '#shared/pki/certificate.js';
import { parseCrl } from '#shared/pki/crl.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, enrollDevice, est, type EstResponse } from '../helpers/est-client.js';
import { initDataDir, serverEvents, startServer, waitForEvent, type FleetServer } from '../helpers/fleet-server.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.js';

const PKCS10 = 'application/pkcs10';

interface Ctx {
  dir: string;
  cluster: PostgresCluster;
  url: string;
  dataDirs: string[];
  passphraseFile: string;
  servers: FleetServer[];
  broker: Broker;
  db: Client;
}
const ctx = {} as Ctx;
const it = suite('scale-out: three servers on one PostgreSQL');

const dbEnv = () => ({ FLEETCERT_DATABASE: ctx.url, FLEETCERT_DATABASE_PASSWORD_FILE: ctx.cluster.passwordFile });
const dbArgs = () => ['--database', ctx.url, '--database-password-file', ctx.cluster.passwordFile];

async function cli(args: readonly string[]) {
  const res = await fleetcert(args, { env: dbEnv(), timeoutMs: 60_000 });
  if (res.code !== 0) throw new Error(`fleetcert ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res;
}

async function createToken(args: readonly string[]): Promise<{ token: string; id: string }> {
  const res = await cli(['token', 'create', '--data-dir', ctx.dataDirs[0]!, '--name', 'scale', '--json', ...args]);
  return JSON.parse(res.stdout) as { token: string; id: string };
}

async function startInstance(i: number, extra: readonly string[] = []): Promise<FleetServer> {
  return startServer(ctx.dir, [...dbArgs(), '--max-auth-failures', '5', '--crl-listen', '127.0.0.1:0', ...extra], {
    dataDir: ctx.dataDirs[i]!,
    passphraseFile: ctx.passphraseFile,
  });
}

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-scale-'));
  ctx.cluster = await startPostgres();
  ctx.url = await ctx.cluster.createDatabase();
  const first = await initDataDir(ctx.dir);
  ctx.passphraseFile = first.passphraseFile;
  await cli(['db', 'migrate', ...dbArgs()]);
  // One real Mosquitto, configured before the copies are made (each host's broker.json names it).
  const run = join(ctx.dir, 'run');
  await mkdir(run);
  if (process.getuid?.() === 0) {
    await chmod(ctx.dir, 0o755);
    await chown(run, Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim()), 0);
  }
  const brokerOut = join(ctx.dir, 'broker');
  const ports = { broker: String(await freePort()), admin: String(await freePort()) };
  await cli([
    'broker-config',
    '--data-dir',
    first.dataDir,
    '--passphrase-file',
    first.passphraseFile,
    '--out',
    brokerOut,
    '--port',
    ports.broker,
    '--bind',
    '127.0.0.1',
    '--admin-port',
    ports.admin,
    '--host',
    'localhost',
    '--reload-pid-file',
    join(run, 'mosquitto.pid'),
  ]);
  ctx.broker = await startMosquitto(ctx.dir, brokerOut, join(run, 'mosquitto.pid'));
  // Three hosts: each its own copy of the CA and TLS files, one database.
  ctx.dataDirs = [first.dataDir, join(ctx.dir, 'data-b'), join(ctx.dir, 'data-c')];
  for (const copy of ctx.dataDirs.slice(1)) await cp(first.dataDir, copy, { recursive: true, preserveTimestamps: true });
  ctx.servers = await Promise.all([0, 1, 2].map((i) => startInstance(i)));
  const connection = await postgresConnection(ctx.url, ctx.cluster.passwordFile, {});
  ctx.db = new Client(connection.config);
  await ctx.db.connect();
});

it.after(async () => {
  await ctx.db?.end();
  for (const server of ctx.servers ?? []) await server.stop().catch(() => undefined);
  await ctx.broker?.stop();
  await ctx.cluster?.stop();
  await rm(ctx.dir, { recursive: true, force: true });
});

const serialOf = (res: EstResponse) => describeCertificate(decodeCertsOnly(Buffer.from(res.body, 'base64'))[0]!).serialNumber;

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await ctx.db.query<{ n: string }>(sql, values);
  return Number(rows[0]!.n);
}

it('a token with --uses 150 raced by 200 devices over 3 instances: exactly 150 certificates, 50 token_exhausted, no serial twice', async () => {
  const { token, id: tokenId } = await createToken(['--uses', '150']);
  const csrs = await Promise.all(Array.from({ length: 200 }, (_, i) => deviceCsr(`race-${i}`)));
  const replies = await Promise.all(
    csrs.map((csr, i) => est(ctx.servers[i % 3]!, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body })),
  );
  const statuses = replies.map((r) => (r.status === 200 ? 'ok' : `${r.status} ${r.json?.code}`));
  assert.is(statuses.filter((s) => s === 'ok').length, 150, statuses.filter((s) => s !== 'ok').join(', '));
  assert.is(statuses.filter((s) => s.endsWith('token_exhausted')).length, 50);
  const serials = replies.filter((r) => r.status === 200).map(serialOf);
  assert.is(new Set(serials).size, 150, 'every serial distinct');
  assert.is(await count("SELECT count(*) AS n FROM certificates WHERE device_id LIKE 'race-%'"), 150);
  assert.is(await count('SELECT count(DISTINCT serial) AS n FROM certificates'), await count('SELECT count(*) AS n FROM certificates'));
  assert.is(await count('SELECT uses AS n FROM tokens WHERE id = $1', [tokenId]), 150);
  assert.is(await count("SELECT count(*) AS n FROM audit WHERE action = 'refused' AND code = 'token_exhausted'"), 50);
});

it('a device revoked through one process cannot renew at any instance in the next request', async () => {
  const { token } = await createToken(['--uses', '10']);
  const device = await enrollDevice(ctx.servers[0]!, token, 'revoked-1');
  await cli(['device', 'revoke', 'revoked-1', '--data-dir', ctx.dataDirs[0]!, '--passphrase-file', ctx.passphraseFile, '--json']);
  for (const server of ctx.servers) {
    const csr = await deviceCsr('revoked-1');
    const res = await est(server, {
      path: EST_PATHS.simpleReenroll,
      contentType: PKCS10,
      body: csr.body,
      cert: device.chainPem,
      key: device.keyPem,
    });
    assert.is(res.status, 403, res.body);
    assert.is(res.json?.code, 'device_revoked');
  }
  assert.is(await count("SELECT count(*) AS n FROM certificates WHERE device_id = 'revoked-1' AND status = 'active'"), 0);
});

it('one device enrolling at two instances at once gets one outcome: one certificate, the other refused', async () => {
  const { token } = await createToken(['--uses', '100']);
  for (let round = 0; round < 10; round += 1) {
    const id = `twin-${round}`;
    const [a, b] = await Promise.all([deviceCsr(id), deviceCsr(id)]);
    const replies = await Promise.all([
      est(ctx.servers[round % 3]!, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: a.body }),
      est(ctx.servers[(round + 1) % 3]!, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: b.body }),
    ]);
    const ok = replies.filter((r) => r.status === 200);
    assert.is(ok.length, 1, replies.map((r) => `${r.status} ${r.json?.code ?? ''}`).join(' / '));
    const refused = replies.find((r) => r.status !== 200)!;
    assert.ok(['id_taken', 'registry_conflict'].includes(refused.json?.code ?? ''), refused.body);
    assert.is(await count("SELECT count(*) AS n FROM certificates WHERE device_id = $1 AND status = 'active'", [id]), 1);
    assert.is(await count('SELECT count(*) AS n FROM certificates WHERE device_id = $1', [id]), 1);
  }
});

it('failure limits are per instance (documented scope): 5 bad tokens lock a source out at that instance only', async () => {
  const { id } = await createToken(['--uses', '1']);
  const bad = `fct_${id}_${'A'.repeat(43)}`;
  const csr = await deviceCsr('limited-1');
  const send = (server: FleetServer) => est(server, { path: EST_PATHS.simpleEnroll, token: bad, contentType: PKCS10, body: csr.body });
  for (let i = 0; i < 5; i += 1) assert.is((await send(ctx.servers[0]!)).json?.code, 'token_invalid');
  assert.is((await send(ctx.servers[0]!)).status, 429);
  assert.is((await send(ctx.servers[1]!)).json?.code, 'token_invalid', 'another instance keeps its own count');
});

it('CRL numbers only grow, whichever instance publishes, one publisher at a time', async () => {
  const { token } = await createToken(['--uses', '10']);
  await enrollDevice(ctx.servers[1]!, token, 'crl-1');
  await cli(['device', 'revoke', 'crl-1', '--data-dir', ctx.dataDirs[1]!, '--passphrase-file', ctx.passphraseFile]);
  const numbers: number[] = [];
  for (let round = 0; round < 3; round += 1) {
    // The three hosts' `crl publish` at once: each gets its own number, the stored one is the highest.
    const runs = await Promise.all(ctx.dataDirs.map((dataDir) => fleetcert(crlPublishArgs(dataDir), { env: dbEnv(), timeoutMs: 60_000 })));
    for (const res of runs) {
      assert.is(res.code, 0, res.stderr);
      numbers.push((JSON.parse(res.stdout) as { number: number }).number);
    }
  }
  assert.is(new Set(numbers).size, numbers.length, `distinct: ${numbers.join(', ')}`);
  assert.is(await count('SELECT crl_number AS n FROM crl_state'), Math.max(...numbers));
});

it('every instance serves the one latest CRL at the distribution point each certificate names, with caching headers', async () => {
  const { token } = await createToken(['--uses', '10']);
  const device = await enrollDevice(ctx.servers[0]!, token, 'cdp-1');
  const pem = device.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
  const text = execFileSync('openssl', ['x509', '-noout', '-ext', 'crlDistributionPoints'], { input: pem }).toString();
  const urls = await Promise.all(ctx.servers.map(async (s) => String((await waitForEvent(s, 'crl_distribution_point')).url)));
  assert.match(text, new RegExp(`URI:${urls[0]!.replace(/[.]/g, '\\.')}`));
  assert.match(urls[0]!, /^http:\/\/localhost:\d+\/crl\/issuing-ca\.crl$/);
  await cli(['device', 'revoke', 'cdp-1', '--data-dir', ctx.dataDirs[0]!, '--passphrase-file', ctx.passphraseFile]);
  const stored = await count('SELECT crl_number AS n FROM crl_state');
  const issuer = readCertificates(device.chainPem)[1]!;
  for (const url of urls) {
    const res = await fetch(url.replace('localhost', '127.0.0.1'));
    assert.is(res.status, 200);
    assert.is(res.headers.get('content-type'), 'application/pkix-crl');
    assert.is(res.headers.get('etag'), `"${stored}"`);
    assert.ok(res.headers.get('last-modified'));
    assert.match(res.headers.get('cache-control') ?? '', /^public, max-age=\d+$/);
    const crl = await parseCrl(new Uint8Array(await res.arrayBuffer()), issuer);
    assert.is(crl.crlNumber, stored);
    assert.ok(crl.entries.some((e) => e.serialNumber === device.serial));
    const again = await fetch(url.replace('localhost', '127.0.0.1'), { headers: { 'if-none-match': `"${stored}"` } });
    assert.is(again.status, 304);
  }
  const wrong = await fetch(urls[1]!.replace('localhost', '127.0.0.1').replace('issuing-ca.crl', 'x'));
  assert.is(wrong.status, 404);
});

function crlPublishArgs(dataDir: string): string[] {
  return ['crl', 'publish', '--data-dir', dataDir, '--passphrase-file', ctx.passphraseFile, '--json'];
}

it('haproxy (TCP mode) in front of the three: enrollment and mTLS renewal through it, spread over every instance', async () => {
  const lb = await startHaproxy(
    ctx.dir,
    ctx.servers.map((s) => s.port),
  );
  try {
    const front = { port: lb.port, rootPem: ctx.servers[0]!.rootPem };
    const { token } = await createToken(['--uses', '30']);
    const before = ctx.servers.map((s) => serverEvents(s).filter((e) => e.event?.startsWith('certificate_')).length);
    for (let i = 0; i < 6; i += 1) {
      const device = await enrollDevice(front, token, `lb-${i}`);
      const csr = await deviceCsr(`lb-${i}`);
      const renewed = await est(front, {
        path: EST_PATHS.simpleReenroll,
        contentType: PKCS10,
        body: csr.body,
        cert: device.chainPem,
        key: device.keyPem,
      });
      assert.is(renewed.status, 200, renewed.body);
      assert.is(await count("SELECT count(*) AS n FROM certificates WHERE device_id = $1 AND status = 'active'", [`lb-${i}`]), 1);
      assert.is(
        (await ctx.db.query<{ serial: string }>("SELECT serial FROM certificates WHERE device_id = $1 AND status = 'active'", [`lb-${i}`]))
          .rows[0]!.serial,
        serialOf(renewed),
      );
    }
    const served = ctx.servers.map((s, i) => serverEvents(s).filter((e) => e.event?.startsWith('certificate_')).length - before[i]!);
    assert.ok(
      served.every((n) => n > 0),
      `each instance served some of the 12 requests: ${served.join(', ')}`,
    );
  } finally {
    await lb.stop();
  }
});

it('kill -9 of one instance under load loses nothing the clients were told', async () => {
  const { token, id: tokenId } = await createToken(['--uses', '1000']);
  const csrs = await Promise.all(Array.from({ length: 90 }, (_, i) => deviceCsr(`kill-${i}`)));
  const victim = ctx.servers[2]!;
  const replies = csrs.map((csr, i) =>
    est(ctx.servers[i % 3]!, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body }).catch((err: Error) => err),
  );
  await new Promise((r) => setTimeout(r, 150));
  process.kill(victim.pid, 'SIGKILL');
  const settled = await Promise.all(replies);
  const issued = settled.filter((r): r is EstResponse => !(r instanceof Error) && r.status === 200).map(serialOf);
  assert.ok(issued.length >= 60, `${issued.length} issued`);
  for (const serial of issued) {
    assert.is(await count("SELECT count(*) AS n FROM certificates WHERE serial = $1 AND status = 'active'", [serial]), 1, serial);
  }
  // Whatever the killed instance committed is whole: a certificate per counted use, and the reverse.
  const certificates = await count("SELECT count(*) AS n FROM certificates WHERE device_id LIKE 'kill-%'");
  assert.is(await count('SELECT uses AS n FROM tokens WHERE id = $1', [tokenId]), certificates);
  assert.is(await count("SELECT count(*) AS n FROM audit WHERE action = 'issued' AND device_id LIKE 'kill-%'"), certificates);
  // The survivors keep serving, and the instance comes back.
  ctx.servers[2] = await startInstance(2);
  const again = await enrollDevice(ctx.servers[2], token, 'kill-after');
  assert.ok(again.serial);
});

it.run();
