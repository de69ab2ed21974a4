import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { stateLayout } from '../../agent/config/state-layout.js';
import { certificatesToPem, certificateToPem, describeCertificate } from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem } from '../../shared/pki/key-pair.js';
import { fleetcertAgent } from '../helpers/cli.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { issueDevice, makeTestPki } from '../helpers/test-pki.js';

test('status: not enrolled is exit 5 with a JSON error code for scripts', async () => {
  await withTempDir(async (dir) => {
    const res = await fleetcertAgent(['status', '--state-dir', dir, '--json']);
    assert.is(res.code, 5);
    assert.equal(JSON.parse(res.stdout), { ok: false, code: 'not_enrolled', message: `not enrolled: no certificate at ${dir}/live/cert.pem` });
  });
});

test('status: reads the live certificate through the live pointer (FLEETCERT_STATE_DIR)', async () => {
  await withTempDir(async (dir) => {
    const layout = stateLayout(dir);
    const gen = layout.generation('000001');
    await mkdir(gen.dir, { recursive: true });
    const pki = await makeTestPki();
    const { certificate, keys } = await issueDevice(pki, 'rpi4-10000000deadbeef', { lifetimeSeconds: 3600 });
    // A complete generation: status refuses one whose key does not prove its certificate.
    await writeFile(gen.key, await exportPrivateKeyPem(keys), { mode: 0o600 });
    await writeFile(gen.cert, certificateToPem(certificate));
    await writeFile(gen.chain, certificatesToPem([certificate, pki.intermediate.certificate]));
    await writeFile(gen.ca, certificateToPem(pki.root.certificate));
    await symlink('generations/000001', layout.live.dir);
    const res = await fleetcertAgent(['status', '--json'], { env: { FLEETCERT_STATE_DIR: dir } });
    assert.is(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.is(out.deviceId, 'rpi4-10000000deadbeef');
    assert.is(out.serialNumber, describeCertificate(certificate).serialNumber);
    assert.ok(out.secondsLeft > 3500 && out.secondsLeft <= 3600, String(out.secondsLeft));
    const human = await fleetcertAgent(['status', '--state-dir', dir]);
    assert.match(human.stdout, /Enrolled as rpi4-10000000deadbeef/);
  });
});

test.run();
