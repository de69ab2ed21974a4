/**
 * Issue 11, item 5: the failure limiter throttles token guessing without becoming a site-wide off
 * switch. Every request comes from 127.0.0.1, as a whole plant behind one NAT would: bad tokens
 * are throttled per (address, token id), valid tokens and mTLS renewals from the same address
 * keep working, and a device retrying a superseded certificate never trips the limiter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certificatesToPem } from '#shared/pki/certificate.js';
import { exportPrivateKeyPem } from '#shared/pki/key-pair.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { RENEWAL_INFO_PATH } from '#shared/protocol/renewal-info.js';
import { deviceCsr, enrollDevice, est, type EnrolledDevice, type EstResponse } from '../helpers/est-client.js';
import { createToken, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const PKCS10 = 'application/pkcs10';
const UNKNOWN_TOKEN = `fct_aaaaaaaaaa_${'B'.repeat(43)}`;

async function enrollWith(server: FleetServer, token: string, id: string): Promise<EstResponse> {
  return est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: (await deviceCsr(id)).body });
}

/** simplereenroll over mTLS with `device`'s certificate and a new key; the successor, as the device would hold it. */
async function renew(server: FleetServer, device: EnrolledDevice): Promise<{ res: EstResponse; next: EnrolledDevice | undefined }> {
  const csr = await deviceCsr(device.id);
  const res = await est(server, {
    path: EST_PATHS.simpleReenroll,
    contentType: PKCS10,
    body: csr.body,
    cert: device.chainPem,
    key: device.keyPem,
  });
  if (res.status !== 200) return { res, next: undefined };
  const chain = decodeCertsOnly(Buffer.from(res.body, 'base64'));
  return { res, next: { ...device, keys: csr.keys, chainPem: certificatesToPem(chain), keyPem: await exportPrivateKeyPem(csr.keys) } };
}

async function statuses(n: number, send: () => Promise<EstResponse>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) out.push((await send()).status);
  return out;
}

test('20 bad tokens from one address throttle that token id only: valid tokens and mTLS renewals go on', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir); // the defaults: 10 failures per 60 s
    try {
      const a = await createToken(server.dataDir);
      const b = await createToken(server.dataDir);
      const first = await enrollDevice(server, a.token, 'rpi-nat-1');
      const { next: renewed } = await renew(server, first);
      assert.ok(renewed, 'first renewal');

      // A device stuck on its superseded certificate retries: a policy refusal, never a 429.
      const stale = await statuses(20, async () => (await renew(server, first)).res);
      assert.equal(stale, Array(20).fill(403), 'certificate_not_current every time');

      // An unknown token id, malformed tokens and no token share the (address, "-") bucket.
      const unknown = await statuses(20, () => enrollWith(server, UNKNOWN_TOKEN, 'rpi-guess'));
      assert.equal(unknown, [...Array(10).fill(401), ...Array(10).fill(429)]);
      assert.is((await enrollWith(server, 'fct_garbage', 'rpi-guess')).status, 429);

      // Wrong secrets for token b throttle token b from this address, not token a.
      const wrongB = `fct_${b.id}_${'C'.repeat(43)}`;
      const guessesB = await statuses(20, () => enrollWith(server, wrongB, 'rpi-guess-b'));
      assert.equal(guessesB, [...Array(10).fill(401), ...Array(10).fill(429)]);

      const valid = await enrollWith(server, a.token, 'rpi-nat-2');
      assert.is(valid.status, 200, `a valid token from the same address: ${valid.body}`);
      const { res: renewal } = await renew(server, renewed);
      assert.is(renewal.status, 200, `an mTLS renewal from the same address: ${renewal.body}`);
      const info = await est(server, { path: RENEWAL_INFO_PATH, method: 'GET', cert: renewed.chainPem, key: renewed.keyPem });
      assert.ok(info.status === 200 || info.status === 403, `renewal info is never throttled: ${info.status}`);

      const still = await enrollWith(server, UNKNOWN_TOKEN, 'rpi-guess');
      assert.is(still.status, 429, 'the bad token id keeps getting 429');
      assert.is(still.json?.code, 'rate_limited');
      const retryAfter = Number(still.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.is((await enrollWith(server, b.token, 'rpi-nat-3')).status, 429, 'token b stays throttled from this address for its window');
    } finally {
      await server.stop();
    }
  });
});

test.run();
