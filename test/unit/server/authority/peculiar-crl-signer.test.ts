import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificateToPem, describeCertificate } from '#shared/pki/certificate.js';
import { PeculiarCrlSigner } from '#server/authority/peculiar-crl-signer.js';
import type { CaSigner } from '#server/authority/certificate-issuer.js';
import type { CrlRequest } from '#server/authority/crl-signer.js';
import { parseCrl } from '#shared/pki/crl.js';
import { toPem } from '#shared/pki/encoding.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { openssl, run } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { DAY, issueDevice, makeTestPki } from '../../../helpers/test-pki.js';

const now = new Date();
const pki = await makeTestPki(now);

/** The signer's DER as PEM, as publish-crl writes it. */
async function buildCrl(request: CrlRequest & { signer: CaSigner }): Promise<string> {
  return toPem(await new PeculiarCrlSigner(request.signer).sign(request), 'X509 CRL');
}

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
    // Critical, end-entity certificates only, and no point name (which would put certificates without a CDP out of scope).
    assert.match(out, /X509v3 Issuing Distribution Point: critical\s*\n\s*Only User Certificates\s*\n/);
    assert.not.match(out, /Full Name/);
    assert.match(out, /Next Update: /);
    assert.match(out, new RegExp(`Serial Number: ${serialA.toUpperCase()}[\\s\\S]*Key Compromise`));
    assert.match(out, new RegExp(`Serial Number: ${serialB.toUpperCase()}`));
    const verified = await run('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-CAfile', join(dir, 'inter.pem')]);
    assert.match(verified.stderr + verified.stdout, /verify OK/);
  });
  const parsed = await parseCrl(pem, pki.intermediate.certificate);
  assert.is(parsed.crlNumber, 42);
  // A CRL number of 4+ bytes (seconds since 1970 is what publishing uses) still reads back as a number.
  const big = await buildCrl({
    signer: pki.intermediate,
    entries: [],
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 1000),
    crlNumber: 1_795_355_906,
  });
  assert.is((await parseCrl(big)).crlNumber, 1_795_355_906);
  assert.equal(
    parsed.entries.map((e) => e.serialNumber),
    [serialA, serialB],
  );
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
    const args = [
      'verify',
      '-crl_check',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'inter.pem'),
      '-CRLfile',
      join(dir, 'crl.pem'),
    ];
    const bad = await run('openssl', [...args, join(dir, 'revoked.pem')]);
    assert.is.not(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /certificate revoked/);
    const good = await run('openssl', [...args, join(dir, 'fine.pem')]);
    assert.is(good.code, 0, good.stderr + good.stdout);
  });
});

test('CRL of a large fleet (10,000 superseded entries) reads back whole: publish-crl refuses to install one that does not', async () => {
  // asn1js stops at 10,000 ASN.1 nodes by default: about 1,250 entries with reason codes.
  const entries = Array.from({ length: 10_000 }, (_, i) => ({
    serialNumber: `${(0x10000000 + i).toString(16)}aabbccddeeff0011223344`,
    revokedAt: now,
    reason: 'superseded' as const,
  }));
  const signer = new PeculiarCrlSigner(pki.intermediate);
  const der = await signer.sign({ entries, thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY * 1000), crlNumber: 9 });
  const crl = await parseCrl(der, pki.intermediate.certificate);
  assert.is(crl.entries.length, 10_000);
  assert.is(crl.entries[9_999]!.serialNumber, entries[9_999]!.serialNumber);
  assert.is(crl.crlNumber, 9);
});

test('CRL: a CRL from another issuer, or garbage, is crl_invalid', async () => {
  const other = await makeTestPki(now, 'ec-p256', 'Other');
  const foreign = await buildCrl({
    signer: other.intermediate,
    entries: [],
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 1000),
    crlNumber: 1,
  });
  await expectCode(() => parseCrl(foreign, pki.intermediate.certificate), 'crl_invalid');
  await expectCode(() => parseCrl(new Uint8Array([0x30, 0x00])), 'crl_invalid');
  await expectCode(() => parseCrl(''), 'crl_invalid');
});

test('CRL requests the signer must refuse: nextUpdate not after thisUpdate, a negative or fractional number', async () => {
  const signer = new PeculiarCrlSigner(pki.intermediate);
  await expectCode(() => signer.sign({ entries: [], thisUpdate: now, nextUpdate: now, crlNumber: 1 }), 'internal');
  await expectCode(
    () => signer.sign({ entries: [], thisUpdate: now, nextUpdate: new Date(now.getTime() + 1000), crlNumber: -1 }),
    'internal',
  );
  await expectCode(
    () => signer.sign({ entries: [], thisUpdate: now, nextUpdate: new Date(now.getTime() + 1000), crlNumber: 1.5 }),
    'internal',
  );
});

test.run();
