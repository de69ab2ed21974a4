import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeCertsOnly } from '#server/pki/certs-only-pkcs7.js';
import { certificateToPem, describeCertificate, type Certificate } from '#shared/pki/certificate.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { openssl } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { issueDevice, makeTestPki } from '../../../helpers/test-pki.js';

const now = new Date();
const pki = await makeTestPki(now);
const der = (c: Certificate) => new Uint8Array(c.rawData);

test('PKCS#7 certs-only: openssl pkcs7 -print_certs reads ours, in order', async () => {
  const { certificate } = await issueDevice(pki, 'dev-p7', { now });
  const p7 = encodeCertsOnly([der(certificate), der(pki.intermediate.certificate)]);
  const out = await openssl(['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], p7);
  assert.match(out, /subject=CN ?= ?dev-p7[\s\S]*subject=CN ?= ?Test Issuing CA/);
});

test('PKCS#7 certs-only: byte for byte what openssl crl2pkcs7 -nocrl writes, and the certificates come back unchanged', async () => {
  const { certificate } = await issueDevice(pki, 'dev-same', { now });
  const chain = [certificate, pki.intermediate.certificate, pki.root.certificate];
  await withTempDir(async (dir) => {
    const file = join(dir, 'chain.pem');
    await writeFile(file, chain.map(certificateToPem).join(''));
    await openssl(['crl2pkcs7', '-nocrl', '-certfile', file, '-outform', 'DER', '-out', join(dir, 'reference.p7')]);
    const ours = encodeCertsOnly(chain.map(der));
    assert.is(
      Buffer.from(ours).toString('hex'),
      (await readFile(join(dir, 'reference.p7'))).toString('hex'),
      'differs from openssl crl2pkcs7',
    );
  });
  const back = decodeCertsOnly(encodeCertsOnly(chain.map(der)));
  assert.equal(
    back.map((c) => Buffer.from(c.rawData).toString('hex')),
    chain.map((c) => Buffer.from(c.rawData).toString('hex')),
  );
});

test('PKCS#7 certs-only: a large chain needs long-form lengths and still reads back', async () => {
  const big = Array.from({ length: 6 }, () => der(pki.root.certificate));
  const back = decodeCertsOnly(encodeCertsOnly(big));
  assert.is(back.length, 6);
});

test('PKCS#7 certs-only: nothing, or something that is not DER, is refused', async () => {
  await expectCode(() => encodeCertsOnly([]), 'internal');
  await expectCode(() => encodeCertsOnly([new TextEncoder().encode('-----BEGIN CERTIFICATE-----')]), 'internal');
});

test('PKCS#7: we read what openssl crl2pkcs7 writes, in order', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'chain.pem');
    await writeFile(file, certificateToPem(pki.intermediate.certificate) + certificateToPem(pki.root.certificate));
    const pem = await openssl(['crl2pkcs7', '-nocrl', '-certfile', file]);
    const certs = decodeCertsOnly(pem);
    assert.equal(
      certs.map((c) => describeCertificate(c).subjectCommonName),
      ['Test Issuing CA', 'Test Root CA'],
    );
  });
});

test('PKCS#7: garbage, empty, and a bare certificate are pkcs7_invalid', async () => {
  await expectCode(() => decodeCertsOnly(new Uint8Array([1, 2, 3])), 'pkcs7_invalid');
  await expectCode(() => decodeCertsOnly(new Uint8Array(0)), 'pkcs7_invalid');
  await expectCode(() => decodeCertsOnly(new Uint8Array(pki.root.certificate.rawData)), 'pkcs7_invalid');
});

test.run();
