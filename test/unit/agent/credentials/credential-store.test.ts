import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { stateLayout } from '../../../../agent/config/state-layout.js';
import { CredentialStore } from '../../../../agent/credentials/credential-store.js';
import { verifyIssued } from '../../../../agent/credentials/verify-issued.js';
import { exportPublicKeySpki } from '../../../../shared/pki/key-pair.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { issueDevice, makeTestPki } from '../../../helpers/test-pki.js';

test('the pending key is written 0600 once and reused until installed', async () => {
  await withTempDir(async (dir) => {
    const layout = stateLayout(dir);
    const store = new CredentialStore(layout);
    const first = await store.pendingKey('ec-p256');
    assert.ok(first.created);
    assert.is((await stat(layout.pending.key)).mode & 0o777, 0o600);
    assert.is((await stat(dir)).mode & 0o777, 0o700);
    const again = await store.pendingKey('ec-p256');
    assert.not.ok(again.created);
    assert.equal(await exportPublicKeySpki(again.keys), await exportPublicKeySpki(first.keys));
  });
});

test('install: a new generation, the live link swapped, the previous kept, older ones pruned', async () => {
  await withTempDir(async (dir) => {
    const layout = stateLayout(dir);
    const store = new CredentialStore(layout);
    const pki = await makeTestPki();
    const serials: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { keys } = await store.pendingKey('ec-p256');
      const { certificate } = await issueDevice(pki, 'dev-1', { keys });
      const live = await store.install(certificate, [certificate, pki.intermediate.certificate], pki.root.certificate);
      serials.push(live.certificate.serialNumber);
    }
    assert.is(await readlink(layout.live.dir), 'generations/000003');
    assert.equal((await readdir(layout.generationsDir)).sort(), ['000002', '000003']);
    assert.equal((await readdir(dir)).sort(), ['generations', 'live']);
    const live = await store.live();
    assert.is(live?.generation, '000003');
    assert.is(live?.certificate.serialNumber, serials[2]);
    assert.match(await readFile(layout.live.chain, 'utf8'), /(BEGIN CERTIFICATE[\s\S]*){2}/);
    assert.is((await stat(layout.live.key)).mode & 0o777, 0o600);
  });
});

test('verifyIssued refuses a certificate for another key, another id, or another CA', async () => {
  const pki = await makeTestPki();
  const mine = await issueDevice(pki, 'dev-1');
  const other = await issueDevice(pki, 'dev-1');
  const base = { keys: mine.keys, deviceId: 'dev-1', root: pki.root.certificate, now: new Date() };
  await verifyIssued({ ...base, chain: [mine.certificate, pki.intermediate.certificate] });
  await expectCode(() => verifyIssued({ ...base, chain: [other.certificate, pki.intermediate.certificate] }), 'issued_certificate_invalid');
  await expectCode(() => verifyIssued({ ...base, deviceId: 'dev-2', chain: [mine.certificate, pki.intermediate.certificate] }), 'issued_certificate_invalid');
  const foreign = await makeTestPki(new Date(), 'ec-p256', 'Foreign');
  await expectCode(() => verifyIssued({ ...base, root: foreign.root.certificate, chain: [mine.certificate, pki.intermediate.certificate] }), 'issued_certificate_invalid');
  await expectCode(() => verifyIssued({ ...base, now: new Date('1970-01-02T00:00:00Z'), chain: [mine.certificate, pki.intermediate.certificate] }), 'clock_not_set');
});

test.run();
