/** `fleetcert-agent status` and `needs-renewal` as a script sees them: stdout, stderr, exit code. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCertificate } from '#shared/pki/certificate.js';
import { installGeneration } from '../helpers/agent-state.js';
import { fleetcertAgent } from '../helpers/cli.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { issueDevice, makeTestPki } from '../helpers/test-pki.js';

test('status: not enrolled is exit 5 with a JSON error code for scripts', async () => {
  await withTempDir(async (dir) => {
    const res = await fleetcertAgent(['status', '--state-dir', dir, '--json']);
    assert.is(res.code, 5);
    assert.equal(JSON.parse(res.stdout), {
      ok: false,
      code: 'not_enrolled',
      message: `not enrolled: no certificate at ${dir}/live/cert.pem`,
    });
  });
});

test('status: reads the live certificate through the live pointer (FLEETCERT_STATE_DIR)', async () => {
  await withTempDir(async (dir) => {
    const pki = await makeTestPki();
    const device = await issueDevice(pki, 'rpi4-10000000deadbeef', { lifetimeSeconds: 3600 });
    await installGeneration(dir, pki, device);
    const res = await fleetcertAgent(['status', '--json'], { env: { FLEETCERT_STATE_DIR: dir } });
    assert.is(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.is(out.deviceId, 'rpi4-10000000deadbeef');
    assert.is(out.serialNumber, describeCertificate(device.certificate).serialNumber);
    assert.ok(out.secondsLeft > 3500 && out.secondsLeft <= 3600, String(out.secondsLeft));
    const human = await fleetcertAgent(['status', '--state-dir', dir]);
    assert.match(human.stdout, /Enrolled as rpi4-10000000deadbeef/);
  });
});

// A 1-hour certificate is due from about 27-30 minutes after its notBefore (1/2 of the lifetime, minus jitter).
const HOUR = 3600;

test('needs-renewal: due is exit 0, with {due, dueFrom, serial, notAfter} on --json; silent without it', async () => {
  await withTempDir(async (dir) => {
    const pki = await makeTestPki(new Date(Date.now() - 2 * HOUR * 1000));
    const device = await issueDevice(pki, 'dev-due', { now: new Date(Date.now() - 50 * 60_000), lifetimeSeconds: HOUR });
    await installGeneration(dir, pki, device);
    const res = await fleetcertAgent(['needs-renewal', '--json', '--state-dir', dir]);
    assert.is(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.is(out.due, true);
    assert.is(out.serial, describeCertificate(device.certificate).serialNumber);
    assert.is(out.notAfter, device.certificate.notAfter.toISOString());
    assert.ok(Date.parse(out.dueFrom) <= Date.now());
    const quiet = await fleetcertAgent(['needs-renewal', '--offline', '--state-dir', dir]);
    assert.equal([quiet.code, quiet.stdout], [0, '']);
  });
});

test('needs-renewal: not due is exit 1 (systemd skips the unit), and the moment is the same at every call', async () => {
  await withTempDir(async (dir) => {
    const pki = await makeTestPki();
    await installGeneration(dir, pki, await issueDevice(pki, 'dev-fresh', { lifetimeSeconds: HOUR }));
    const first = await fleetcertAgent(['needs-renewal', '--json', '--state-dir', dir]);
    assert.is(first.code, 1, first.stderr);
    assert.is(first.stderr, '', 'not due is an answer, not an error');
    const out = JSON.parse(first.stdout);
    assert.is(out.due, false);
    assert.ok(Date.parse(out.dueFrom) > Date.now());
    const again = await fleetcertAgent(['needs-renewal', '--json', '--state-dir', dir]);
    assert.is(JSON.parse(again.stdout).dueFrom, out.dueFrom, 'jitter from the serial, not from a new random draw');
  });
});

test('needs-renewal: not enrolled is exit 5; corrupt credentials are an error, exit 255', async () => {
  await withTempDir(async (dir) => {
    const none = await fleetcertAgent(['needs-renewal', '--json', '--state-dir', dir]);
    assert.is(none.code, 5, none.stderr);
    assert.is(JSON.parse(none.stdout).code, 'not_enrolled');
    const pki = await makeTestPki();
    await installGeneration(dir, pki, await issueDevice(pki, 'dev-broken', { lifetimeSeconds: HOUR }));
    await writeFile(join(dir, 'live', 'cert.pem'), '-----BEGIN CERTIFICATE-----\ntruncated');
    const broken = await fleetcertAgent(['needs-renewal', '--json', '--state-dir', dir]);
    assert.is(broken.code, 255, broken.stderr);
    assert.is(JSON.parse(broken.stdout).code, 'credentials_corrupt');
    assert.match(broken.stderr, /fleetcert-agent: hint: /);
  });
});

test.run();
