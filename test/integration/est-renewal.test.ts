/**
 * Renewal info and the grace window against the real server: curl as an independent client for
 * GET /fleetcert/v1/renewal-info; short-lived certificates (3 s) and a 4 s grace window instead
 * of days, so expiry happens within the test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCertificate, readCertificates } from '#shared/pki/certificate.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { RENEWAL_INFO_PATH } from '#shared/protocol/renewal-info.js';
import { spreadRenewalWindow } from '#server/renewal/renewal-hint.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, enrollDevice, est, type EnrolledDevice } from '../helpers/est-client.js';
import { auditRows, createToken, registrySnapshot, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';

/** GET renewal-info with curl, presenting the device's chain and key. */
async function curlRenewalInfo(server: FleetServer, dir: string, device?: EnrolledDevice) {
  await writeFile(join(dir, 'root.pem'), server.rootPem);
  const args = [
    '-sS',
    '--cacert',
    join(dir, 'root.pem'),
    '-D',
    join(dir, 'headers.txt'),
    `https://localhost:${server.port}${RENEWAL_INFO_PATH}`,
  ];
  if (device) {
    await writeFile(join(dir, 'chain.pem'), device.chainPem);
    await writeFile(join(dir, 'key.pem'), device.keyPem, { mode: 0o600 });
    args.unshift('--cert', join(dir, 'chain.pem'), '--key', join(dir, 'key.pem'));
  }
  const res = await run('curl', args);
  assert.is(res.code, 0, res.stderr);
  const headers = await readFile(join(dir, 'headers.txt'), 'utf8');
  return { status: Number(/^HTTP\/\S+ (\d+)/.exec(headers)?.[1]), headers, json: JSON.parse(res.stdout) };
}

async function reenroll(server: FleetServer, device: EnrolledDevice) {
  const csr = await deviceCsr(device.id);
  return est(server, {
    path: EST_PATHS.simpleReenroll,
    contentType: 'application/pkcs10',
    body: csr.body,
    cert: device.chainPem,
    key: device.keyPem,
  });
}

const leafOf = (device: EnrolledDevice) => readCertificates(device.chainPem)[0]!;

test("renewal info: the spread default window, an operator's renew-now, and refusals with their codes", async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--renewal-info-retry', '2h']);
    try {
      const { token } = await createToken(server.dataDir);
      const device = await enrollDevice(server, token, 'rpi-hint-1');
      const other = await enrollDevice(server, token, 'rpi-hint-2');

      const first = await curlRenewalInfo(server, dir, device);
      assert.is(first.status, 200);
      assert.match(first.headers, /retry-after: 7200/i);
      const window = spreadRenewalWindow(leafOf(device), device.serial);
      assert.equal(first.json, {
        serial: device.serial,
        suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
        reason: 'default',
      });

      const before = Date.now();
      const pulled = await fleetcert(['renew-now', device.id, '--reason', 'key rotation', '--json', '--data-dir', server.dataDir]);
      assert.is(pulled.code, 0, pulled.stderr);
      assert.equal(JSON.parse(pulled.stdout), { ok: true, requested: [device.id], pushed: false }, 'no broker here: recorded, not pushed');
      const after = await curlRenewalInfo(server, dir, device);
      assert.is(after.json.reason, 'operator');
      const start = Date.parse(after.json.suggestedWindow.start);
      assert.ok(start >= before - 1000 && start <= Date.now(), 'the window starts when the operator asked');
      assert.is((await curlRenewalInfo(server, dir, other)).json.reason, 'default', 'only the named device');
      assert.ok(auditRows(server.dataDir).some((a) => a.action === 'renew_requested' && a.device_id === device.id));

      const anonymous = await curlRenewalInfo(server, dir);
      assert.is(anonymous.status, 401);
      assert.is(anonymous.json.code, 'client_certificate_required');

      const revoke = await fleetcert([
        'device',
        'revoke',
        other.id,
        '--data-dir',
        server.dataDir,
        '--passphrase-file',
        server.passphraseFile,
      ]);
      assert.is(revoke.code, 0, revoke.stderr);
      const revoked = await curlRenewalInfo(server, dir, other);
      assert.is(revoked.status, 403);
      assert.is(revoked.json.code, 'device_revoked');

      const unknown = await fleetcert(['renew-now', 'rpi-nope', '--data-dir', server.dataDir]);
      assert.is(unknown.code, 5, unknown.stderr);
      assert.match(unknown.stderr, /not active devices: rpi-nope/);
    } finally {
      await server.stop();
    }
  });
});

test('grace window: an expired latest certificate renews; superseded, revoked or too-old ones do not', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, [
      '--device-lifetime',
      '3s',
      '--backdate',
      '1s',
      '--renewal-grace',
      '4s',
      '--max-auth-failures',
      '1000',
    ]);
    try {
      const { token } = await createToken(server.dataDir);
      const [inGrace, late, renewedOnce, revoked] = await Promise.all(
        ['rpi-grace-1', 'rpi-grace-2', 'rpi-grace-3', 'rpi-grace-4'].map((id) => enrollDevice(server, token, id)),
      );
      const secondOfRenewed = await reenroll(server, renewedOnce!);
      assert.is(secondOfRenewed.status, 200);
      assert.is(
        (await fleetcert(['device', 'revoke', revoked!.id, '--data-dir', server.dataDir, '--passphrase-file', server.passphraseFile])).code,
        0,
      );

      const expiry = Math.max(...[inGrace, late, renewedOnce, revoked].map((d) => leafOf(d!).notAfter.getTime()));
      await new Promise((r) => setTimeout(r, expiry - Date.now() + 1200));

      const renewed = await reenroll(server, inGrace!);
      assert.is(renewed.status, 200, renewed.body);
      const next = describeCertificate(decodeCertsOnly(Buffer.from(renewed.body, 'base64'))[0]!);
      assert.is(next.subjectCommonName, inGrace!.id);
      assert.ok(next.notAfter.getTime() > Date.now(), 'the successor is valid now');

      const superseded = await reenroll(server, renewedOnce!);
      assert.is(superseded.status, 403);
      assert.is(superseded.json?.code, 'certificate_not_current');
      const revokedAttempt = await reenroll(server, revoked!);
      assert.is(revokedAttempt.status, 403);
      assert.is(revokedAttempt.json?.code, 'device_revoked');

      const lateBy = leafOf(late!).notAfter.getTime() + 4000 - Date.now();
      await new Promise((r) => setTimeout(r, lateBy + 1200));
      const refusalsBefore = auditRows(server.dataDir).filter((a) => a.code === 'cert_expired').length;
      const tooLate = await reenroll(server, late!);
      assert.is(tooLate.status, 403);
      assert.is(tooLate.json?.code, 'cert_expired');
      const certs = registrySnapshot(server.dataDir).certificates as { device_id: string }[];
      assert.is(certs.filter((c) => c.device_id === late!.id).length, 1, 'nothing issued past the grace window');
      // Audited without a device id: an unverifiable certificate only claims one.
      assert.is(auditRows(server.dataDir).filter((a) => a.code === 'cert_expired' && a.action === 'refused').length, refusalsBefore + 1);
    } finally {
      await server.stop();
    }
  });
});

test.run();
