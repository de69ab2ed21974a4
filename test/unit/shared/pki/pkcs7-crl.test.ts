import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificateToPem, describeCertificate } from '../../../../shared/pki/certificate.js';
import { buildCrl, parseCrl } from '../../../../shared/pki/crl.js';
import { decodeCertsOnly, encodeCertsOnly } from '../../../../shared/pki/pkcs7.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { openssl, run } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { DAY, issueDevice, makeTestPki } from '../../../helpers/test-pki.js';

const now = new Date();
const pki = await makeTestPki(now);

test('PKCS#7 certs-only: openssl pkcs7 -print_certs reads ours', async () => {
  const { certificate } = await issueDevice(pki, 'dev-p7', { now });
  const der = encodeCertsOnly([certificate, pki.intermediate.certificate]);
  const out = await openssl(['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], der);
  assert.match(out, /subject=CN ?= ?dev-p7[\s\S]*subject=CN ?= ?Test Issuing CA/);
});

test('PKCS#7 certs-only: we read what openssl crl2pkcs7 writes, in order', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'chain.pem');
    await writeFile(file, certificateToPem(pki.intermediate.certificate) + certificateToPem(pki.root.certificate));
    const der = await run('openssl', ['crl2pkcs7', '-nocrl', '-certfile', file, '-outform', 'DER']);
    assert.is(der.code, 0);
    const pem = await openssl(['crl2pkcs7', '-nocrl', '-certfile', file]);
    const certs = decodeCertsOnly(pem);
    assert.equal(certs.map((c) => describeCertificate(c).subjectCommonName), ['Test Issuing CA', 'Test Root CA']);
  });
});

test('PKCS#7: garbage, empty, and a bare certificate are pkcs7_invalid', async () => {
  await expectCode(() => decodeCertsOnly(new Uint8Array([1, 2, 3])), 'pkcs7_invalid');
  await expectCode(() => decodeCertsOnly(new Uint8Array(0)), 'pkcs7_invalid');
  await expectCode(() => decodeCertsOnly(new Uint8Array(pki.root.certificate.rawData)), 'pkcs7_invalid');
});

test('CRL: openssl crl -text shows issuer, number, nextUpdate, entries with reasons; signature verifies', async () => {
  const a = await issueDevice(pki, 'dev-a', { now });
  const b = await issueDevice(pki, 'dev-b', { now });
  const serialA = describeCertificate(a.certificate).serialNumber;
  const serialB = describeCertificate(b.certificate).serialNumber;
  const pem = await buildCrl({
    signer: pki.intermediate,
    entries: [
      { serialNumber: serialA, revokedAt: now, reason: 'keyCompromise' },
      { serialNumber: serialB, revokedAt: now },
    ],
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 7 * DAY * 1000),
    crlNumber: 42,
  });
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'inter.pem'), certificateToPem(pki.intermediate.certificate));
    await writeFile(join(dir, 'crl.pem'), pem);
    const out = await openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text', '-CAfile', join(dir, 'inter.pem')]);
    assert.match(out, /Issuer: CN ?= ?Test Issuing CA/);
    assert.match(out, /X509v3 CRL Number:\s*\n\s*42/);
    assert.match(out, /X509v3 Authority Key Identifier/);
    assert.match(out, /Next Update: /);
    assert.match(out, new RegExp(`Serial Number: ${serialA.toUpperCase()}[\\s\\S]*Key Compromise`));
    assert.match(out, new RegExp(`Serial Number: ${serialB.toUpperCase()}`));
    const verified = await run('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-CAfile', join(dir, 'inter.pem')]);
    assert.match(verified.stderr + verified.stdout, /verify OK/);
  });
  const parsed = await parseCrl(pem, pki.intermediate.certificate);
  assert.is(parsed.crlNumber, 42);
  // A CRL number of 4+ bytes (seconds since 1970 is what publishing uses) still reads back as a number.
  const big = await buildCrl({ signer: pki.intermediate, entries: [], thisUpdate: now, nextUpdate: new Date(now.getTime() + 1000), crlNumber: 1_795_355_906 });
  assert.is((await parseCrl(big)).crlNumber, 1_795_355_906);
  assert.equal(parsed.entries.map((e) => e.serialNumber), [serialA, serialB]);
});

test('CRL bites: openssl verify -crl_check refuses a revoked leaf, accepts another', async () => {
  const revoked = await issueDevice(pki, 'dev-revoked', { now });
  const fine = await issueDevice(pki, 'dev-fine', { now });
  const crl = await buildCrl({
    signer: pki.intermediate,
    entries: [{ serialNumber: describeCertificate(revoked.certificate).serialNumber, revokedAt: now, reason: 'cessationOfOperation' }],
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + DAY * 1000),
    crlNumber: 1,
  });
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'root.pem'), certificateToPem(pki.root.certificate));
    await writeFile(join(dir, 'inter.pem'), certificateToPem(pki.intermediate.certificate));
    await writeFile(join(dir, 'crl.pem'), crl);
    await writeFile(join(dir, 'revoked.pem'), certificateToPem(revoked.certificate));
    await writeFile(join(dir, 'fine.pem'), certificateToPem(fine.certificate));
    const args = ['verify', '-crl_check', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'inter.pem'), '-CRLfile', join(dir, 'crl.pem')];
    const bad = await run('openssl', [...args, join(dir, 'revoked.pem')]);
    assert.is.not(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /certificate revoked/);
    const good = await run('openssl', [...args, join(dir, 'fine.pem')]);
    assert.is(good.code, 0, good.stderr + good.stdout);
  });
});

test('CRL: a CRL from another issuer, or garbage, is crl_invalid', async () => {
  const other = await makeTestPki(now, 'ec-p256', 'Other');
  const foreign = await buildCrl({ signer: other.intermediate, entries: [], thisUpdate: now, nextUpdate: new Date(now.getTime() + 1000), crlNumber: 1 });
  await expectCode(() => parseCrl(foreign, pki.intermediate.certificate), 'crl_invalid');
  await expectCode(() => parseCrl(new Uint8Array([0x30, 0x00])), 'crl_invalid');
  await expectCode(() => parseCrl(''), 'crl_invalid');
});

test.run();
