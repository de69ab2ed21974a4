import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildCsr, parseCsr } from '#shared/pki/csr.js';
import { sha256Hex } from '#shared/pki/encoding.js';
import { exportPublicKeySpki, generateKeyPair } from '#shared/pki/key-pair.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { integer, OIDS, rawEcCsr } from '../../../helpers/raw-csr.js';
import { openssl } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

async function opensslCsr(dir: string, keyArgs: string[], subject: string): Promise<{ pem: string; der: Buffer }> {
  const key = join(dir, `k${Math.random()}.pem`);
  await openssl(['genpkey', ...keyArgs, '-out', key]);
  const pem = await openssl(['req', '-new', '-key', key, '-subj', subject]);
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return { pem, der };
}

test('our CSR verifies in openssl and carries the CN', async () => {
  await withTempDir(async (dir) => {
    const csr = await buildCsr({ keys: await generateKeyPair(), commonName: 'rpi4-10000000abcdef01' });
    const file = join(dir, 'req.pem');
    await writeFile(file, csr.pem);
    const out = await openssl(['req', '-in', file, '-verify', '-noout', '-subject']);
    assert.match(out, /CN\s*=\s*rpi4-10000000abcdef01/);
  });
});

test('our CSR parses back: CN, key fingerprint, policy', async () => {
  const keys = await generateKeyPair('ec-p384');
  const csr = await buildCsr({ keys, commonName: 'opi-pc-02c00081' });
  const parsed = await parseCsr(csr.der);
  assert.is(parsed.commonName, 'opi-pc-02c00081');
  assert.equal(parsed.key, { algorithm: 'ec', size: 'P-384' });
  assert.is(parsed.publicKeyFingerprintSha256, sha256Hex(await exportPublicKeySpki(keys)));
  assert.is((await parseCsr(csr.pem)).commonName, 'opi-pc-02c00081', 'PEM input is accepted too');
});

test('CSRs made by openssl req (P-256, RSA-2048) parse and verify', async () => {
  await withTempDir(async (dir) => {
    const ec = await opensslCsr(dir, ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=dev-ec');
    const parsedEc = await parseCsr(ec.der);
    assert.is(parsedEc.commonName, 'dev-ec');
    assert.equal(parsedEc.key, { algorithm: 'ec', size: 'P-256' });
    const rsa = await opensslCsr(dir, ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], '/CN=dev-rsa/O=Plant 3');
    const parsedRsa = await parseCsr(rsa.pem);
    assert.is(parsedRsa.commonName, 'dev-rsa');
    assert.equal(parsedRsa.key, { algorithm: 'rsa', size: '2048' });
  });
});

test('one flipped signature byte: csr_signature_invalid', async () => {
  await withTempDir(async (dir) => {
    for (const keyArgs of [
      ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
      ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
    ]) {
      const { der } = await opensslCsr(dir, keyArgs, '/CN=tampered');
      const bad = Buffer.from(der);
      bad.writeUInt8(bad[bad.length - 3]! ^ 0x01, bad.length - 3); // inside the signature BIT STRING, which ends the structure
      await expectCode(() => parseCsr(bad), 'csr_signature_invalid');
    }
  });
});

test('RSA-1024 is key_too_weak; P-521 and Ed25519 are key_unsupported', async () => {
  await withTempDir(async (dir) => {
    const weak = await opensslCsr(dir, ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], '/CN=weak');
    await expectCode(() => parseCsr(weak.der), 'key_too_weak');
    const p521 = await opensslCsr(dir, ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], '/CN=p521');
    await expectCode(() => parseCsr(p521.der), 'key_unsupported');
    const ed = await opensslCsr(dir, ['-algorithm', 'ed25519'], '/CN=ed');
    await expectCode(() => parseCsr(ed.der), 'key_unsupported');
  });
});

test('not a CSR: garbage, a certificate, empty, oversize are csr_invalid', async () => {
  await expectCode(() => parseCsr(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), 'csr_invalid');
  await expectCode(() => parseCsr(new Uint8Array(0)), 'csr_invalid');
  await expectCode(() => parseCsr('hello'), 'csr_invalid');
  await expectCode(() => parseCsr(new Uint8Array(64 * 1024)), 'csr_invalid');
  const cert = await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    '/dev/null',
    '-subj',
    '/CN=x',
  ]);
  await expectCode(() => parseCsr(cert), 'csr_invalid');
});

test('a subject with two CNs is csr_invalid (no ambiguity about the device id)', async () => {
  await withTempDir(async (dir) => {
    const two = await opensslCsr(dir, ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=a/CN=b');
    await expectCode(() => parseCsr(two.der), 'csr_invalid');
  });
});

test('lazily parsed fields that do not parse, explicit EC parameters and SHA-1 signatures are csr_invalid', async () => {
  const integerRequest = rawEcCsr({ commonName: 'rpi-1', attributes: [{ type: OIDS.extensionRequest, values: [integer(1)] }] });
  await expectCode(() => parseCsr(integerRequest.der), 'csr_invalid');
  await expectCode(() => parseCsr(rawEcCsr({ commonName: 'rpi-1', hash: 'sha1' }).der), 'csr_invalid');
  assert.is((await parseCsr(rawEcCsr({ commonName: 'rpi-1' }).der)).commonName, 'rpi-1', 'the same CSR with SHA-256 parses');
  await withTempDir(async (dir) => {
    await openssl(['ecparam', '-name', 'prime256v1', '-param_enc', 'explicit', '-genkey', '-noout', '-out', join(dir, 'k')]);
    const pem = await openssl(['req', '-new', '-key', join(dir, 'k'), '-subj', '/CN=rpi-explicit']);
    await expectCode(() => parseCsr(pem), 'csr_invalid');
  });
});

test('only DER: bytes after the request and non-minimal lengths are csr_invalid (the @peculiar parser ignored the first)', async () => {
  const { der } = rawEcCsr({ commonName: 'rpi-strict' });
  assert.is((await parseCsr(der)).commonName, 'rpi-strict');
  await expectCode(() => parseCsr(Buffer.concat([der, Buffer.from([0])])), 'csr_invalid');
  assert.is(der[1], 0x81, 'outer length in long form');
  const info = der.subarray(3);
  const nonMinimal = Buffer.concat([Buffer.from([0x30, 0x81, der[2]! + 1, 0x30, 0x81, info[1]!]), info.subarray(2)]);
  await expectCode(() => parseCsr(nonMinimal), 'csr_invalid');
});

test('a key BIT STRING with unused bits is csr_invalid: they would be dropped from the key unseen', async () => {
  const { der } = rawEcCsr({ commonName: 'rpi-bits' });
  const at = der.indexOf(Buffer.from('034200', 'hex'));
  const bad = Buffer.from(der);
  bad[at + 2] = 1;
  await expectCode(() => parseCsr(bad), 'csr_invalid');
});

test.run();
