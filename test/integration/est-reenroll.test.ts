/**
 * simplereenroll over mutual TLS against the real server: the current certificate authorises
 * a successor for a new key; everything else is refused with its code.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificatesToPem, describeCertificate, type Certificate } from '#shared/pki/certificate.js';
import { exportPrivateKeyPem, type KeyPair } from '#shared/pki/key-pair.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, est, type EstResponse } from '../helpers/est-client.js';
import { createToken, registrySnapshot, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { issueDevice, makeTestPki } from '../helpers/test-pki.js';

const ctx: { server?: FleetServer; dir?: string; token?: string } = {};
const it = suite('est-reenroll', ctx);
const PKCS10 = 'application/pkcs10';

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-reenroll-'));
  ctx.server = await startServer(ctx.dir, ['--max-auth-failures', '100000']);
  ctx.token = (await createToken(ctx.server.dataDir)).token;
});
it.after(async () => {
  await ctx.server?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

interface Enrolled {
  keys: KeyPair;
  chain: Certificate[];
  serial: string;
}

function parsed(res: EstResponse): { chain: Certificate[]; serial: string } {
  assert.is(res.status, 200, res.body);
  const chain = decodeCertsOnly(Buffer.from(res.body, 'base64'));
  return { chain, serial: describeCertificate(chain[0]!).serialNumber };
}

async function enrollNew(id: string, token = ctx.token!): Promise<Enrolled> {
  const csr = await deviceCsr(id);
  const res = await est(ctx.server!, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body });
  return { keys: csr.keys, ...parsed(res) };
}

/** simplereenroll presenting `current` over mTLS with a CSR for `csrId` and a new (or given) key. */
async function reenroll(current: Enrolled, csrId: string, newKeys?: KeyPair) {
  const csr = await deviceCsr(csrId, newKeys);
  const res = await est(ctx.server!, {
    path: EST_PATHS.simpleReenroll,
    contentType: PKCS10,
    body: csr.body,
    cert: certificatesToPem(current.chain),
    key: await exportPrivateKeyPem(current.keys),
  });
  return { res, keys: csr.keys };
}

it('renews with a new key: new serial, same subject, old certificate superseded, no token use', async () => {
  const first = await enrollNew('rpi-renew-1');
  const { res, keys } = await reenroll(first, 'rpi-renew-1');
  const second = parsed(res);
  assert.is.not(second.serial, first.serial);
  assert.is(describeCertificate(second.chain[0]!).subjectCommonName, 'rpi-renew-1');
  const certs = (registrySnapshot(ctx.server!.dataDir).certificates as { serial: string; status: string }[]).filter((c) =>
    [first.serial, second.serial].includes(c.serial),
  );
  assert.equal(Object.fromEntries(certs.map((c) => [c.serial, c.status])), { [first.serial]: 'superseded', [second.serial]: 'active' });
  // And the new certificate renews again: a chain of renewals.
  const third = parsed((await reenroll({ keys, ...second }, 'rpi-renew-1')).res);
  assert.is.not(third.serial, second.serial);
});

it('a lost response is retried safely: the superseded certificate with the same new key gets the same successor', async () => {
  const first = await enrollNew('rpi-renew-2');
  const { res, keys } = await reenroll(first, 'rpi-renew-2');
  const second = parsed(res);
  const retry = parsed((await reenroll(first, 'rpi-renew-2', keys)).res);
  assert.is(retry.serial, second.serial);
  // But the old certificate cannot fork a second, different successor.
  const fork = (await reenroll(first, 'rpi-renew-2')).res;
  assert.is(fork.status, 403);
  assert.is(fork.json?.code, 'certificate_not_current');
});

it('same key again: 400 key_reused; another subject: 403 subject_mismatch', async () => {
  const first = await enrollNew('rpi-renew-3');
  const sameKey = (await reenroll(first, 'rpi-renew-3', first.keys)).res;
  assert.is(sameKey.status, 400);
  assert.is(sameKey.json?.code, 'key_reused');
  const other = (await reenroll(first, 'rpi-someone-else')).res;
  assert.is(other.status, 403);
  assert.is(other.json?.code, 'subject_mismatch');
});

it('no client certificate: 401 client_certificate_required', async () => {
  const res = await est(ctx.server!, { path: EST_PATHS.simpleReenroll, contentType: PKCS10, body: (await deviceCsr('rpi-nocert')).body });
  assert.is(res.status, 401);
  assert.is(res.json?.code, 'client_certificate_required');
});

it('a certificate from another CA, even with the same device id: 403 chain_invalid, registry unchanged', async () => {
  await enrollNew('rpi-foreign-1');
  const before = registrySnapshot(ctx.server!.dataDir);
  const foreign = await makeTestPki(new Date(), 'ec-p256', 'Foreign');
  const fake = await issueDevice(foreign, 'rpi-foreign-1');
  const res = await reenroll({ keys: fake.keys, chain: [fake.certificate, foreign.intermediate.certificate], serial: '' }, 'rpi-foreign-1');
  assert.is(res.res.status, 403);
  assert.is(res.res.json?.code, 'chain_invalid');
  assert.equal(registrySnapshot(ctx.server!.dataDir), before);
});

it('a revoked token does not affect devices enrolled with it: they still renew', async () => {
  const { token, id } = await createToken(ctx.server!.dataDir);
  const device = await enrollNew('rpi-tokrev-1', token);
  assert.is((await fleetcert(['token', 'revoke', id, '--data-dir', ctx.server!.dataDir])).code, 0);
  const renewed = (await reenroll(device, 'rpi-tokrev-1')).res;
  assert.is(renewed.status, 200, renewed.body);
});

it('after "device reset" the old certificate can no longer renew', async () => {
  const device = await enrollNew('rpi-reset-2');
  assert.is((await fleetcert(['device', 'reset', 'rpi-reset-2', '--data-dir', ctx.server!.dataDir])).code, 0);
  const res = (await reenroll(device, 'rpi-reset-2')).res;
  assert.is(res.status, 403);
  assert.is(res.json?.code, 'certificate_not_current');
});

it.run();
