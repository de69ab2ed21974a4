import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueRootCertificate, PeculiarIssuer } from '#server/authority/peculiar-issuer.js';
import { certificateMatchesKey, certificateToPem, describeCertificate, type Certificate } from '#shared/pki/certificate.js';
import { exportPublicKeySpki, generateKeyPair } from '#shared/pki/key-pair.js';
import { DAY, issueDevice, issueWith, makeTestPki, type TestPki } from '../../../helpers/test-pki.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { openssl, run } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const now = new Date();
const ctx: { pki?: TestPki; dir?: string } = {};
const it = suite('peculiar-issuer', ctx);

/** Writes the chain files and runs `openssl verify` with optional extra options. */
async function verify(pki: TestPki, leaf: Certificate, extra: string[] = []) {
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'root.pem'), certificateToPem(pki.root.certificate));
    await writeFile(join(dir, 'inter.pem'), certificateToPem(pki.intermediate.certificate));
    await writeFile(join(dir, 'leaf.pem'), certificateToPem(leaf));
    return run('openssl', [
      'verify',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'inter.pem'),
      ...extra,
      join(dir, 'leaf.pem'),
    ]);
  });
}

async function text(cert: Certificate): Promise<string> {
  return openssl(['x509', '-noout', '-text'], certificateToPem(cert));
}

/** The lines of one extension block in `openssl x509 -text` output. */
function extension(dump: string, name: string): string {
  const start = dump.indexOf(`X509v3 ${name}`);
  assert.ok(start >= 0, `extension "${name}" missing in:\n${dump}`);
  const rest = dump.slice(start).split('\n');
  return [rest[0], rest[1]].join('\n');
}

it.before(async () => {
  ctx.pki = await makeTestPki(now);
});

it('root CA: self-signed, CA:TRUE critical, keyCertSign+cRLSign critical, SKI', async () => {
  const dump = await text(ctx.pki!.root.certificate);
  assert.match(extension(dump, 'Basic Constraints'), /critical\s+CA:TRUE/);
  assert.match(extension(dump, 'Key Usage'), /critical\s+Certificate Sign, CRL Sign/);
  assert.match(dump, /X509v3 Subject Key Identifier/);
  assert.match(dump, /Subject: CN ?= ?Test Root CA, O ?= ?fleetcert tests/);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'root.pem'), certificateToPem(ctx.pki!.root.certificate));
    const self = await run('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), join(dir, 'root.pem')]);
    assert.is(self.code, 0, self.stderr);
  });
});

it('intermediate CA: pathlen:0, AKI = root SKI, verifies against the root', async () => {
  const dump = await text(ctx.pki!.intermediate.certificate);
  assert.match(extension(dump, 'Basic Constraints'), /critical\s+CA:TRUE, pathlen:0/);
  assert.match(extension(dump, 'Key Usage'), /critical\s+Certificate Sign, CRL Sign/);
  const rootDump = await text(ctx.pki!.root.certificate);
  const rootSki = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(rootDump)?.[1];
  assert.ok(rootSki);
  assert.match(dump, new RegExp(`Authority Key Identifier:\\s*\\n\\s*(keyid:)?${rootSki}`));
  const res = await verify(ctx.pki!, ctx.pki!.intermediate.certificate);
  assert.is(res.code, 0, res.stderr);
});

it('device client: CA:FALSE, digitalSignature critical, clientAuth only; openssl verifies it for sslclient', async () => {
  const { certificate, keys } = await issueDevice(ctx.pki!, 'rpi4-100000001234abcd', { now });
  const dump = await text(certificate);
  assert.match(extension(dump, 'Basic Constraints'), /critical\s+CA:FALSE/);
  assert.match(extension(dump, 'Key Usage'), /critical\s+Digital Signature\s*$/m);
  assert.match(extension(dump, 'Extended Key Usage'), /TLS Web Client Authentication\s*$/m);
  assert.not.match(dump, /TLS Web Server Authentication/);
  assert.match(dump, /X509v3 Subject Key Identifier/);
  assert.match(dump, /X509v3 Authority Key Identifier/);
  const ok = await verify(ctx.pki!, certificate, ['-purpose', 'sslclient']);
  assert.is(ok.code, 0, ok.stderr);
  const wrongPurpose = await verify(ctx.pki!, certificate, ['-purpose', 'sslserver']);
  assert.is.not(wrongPurpose.code, 0, 'a device certificate must not be usable as a TLS server');
  assert.ok(await certificateMatchesKey(certificate, keys));
  assert.not.ok(await certificateMatchesKey(certificate, await generateKeyPair()));
});

it('TLS server: serverAuth, SAN with DNS and IP; verifies for sslserver and matches the host', async () => {
  const keys = await generateKeyPair();
  const cert = await issueWith(ctx.pki!.intermediate, keys, {
    profile: 'tls-server',
    subject: { commonName: 'broker.local' },
    now,
    lifetimeSeconds: 365 * DAY,
    dnsNames: ['broker.local', 'broker', 'broker.local'],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  const dump = await text(cert);
  assert.match(extension(dump, 'Basic Constraints'), /critical\s+CA:FALSE/);
  assert.match(extension(dump, 'Extended Key Usage'), /TLS Web Server Authentication\s*$/m);
  assert.match(dump, /DNS:broker\.local, DNS:broker, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  const ok = await verify(ctx.pki!, cert, ['-purpose', 'sslserver', '-verify_hostname', 'broker.local']);
  assert.is(ok.code, 0, ok.stderr);
  const ip = await verify(ctx.pki!, cert, ['-purpose', 'sslserver', '-verify_ip', '127.0.0.1']);
  assert.is(ip.code, 0, ip.stderr);
  const other = await verify(ctx.pki!, cert, ['-verify_hostname', 'evil.local']);
  assert.is.not(other.code, 0);
});

it('a foreign root does not verify our leaf (the check can fail)', async () => {
  const other = await makeTestPki(now, 'ec-p256', 'Other');
  const { certificate } = await issueDevice(ctx.pki!, 'dev-1', { now });
  const res = await verify(other, certificate);
  assert.is.not(res.code, 0);
});

it('RSA CAs and RSA leaves verify too', async () => {
  const rsa = await makeTestPki(now, 'rsa-2048', 'RSA');
  const { certificate } = await issueDevice(rsa, 'dev-rsa', { now, keys: await generateKeyPair('rsa-2048') });
  const res = await verify(rsa, certificate, ['-purpose', 'sslclient']);
  assert.is(res.code, 0, res.stderr);
});

it('a CN with DN metacharacters stays one CN (no attribute injection)', async () => {
  const { certificate } = await issueDevice(ctx.pki!, 'a,O=Evil+CN=root', { now });
  const info = describeCertificate(certificate);
  assert.is(info.subjectCommonName, 'a,O=Evil+CN=root');
  const subject = await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], certificateToPem(certificate));
  assert.not.match(subject, /^subject=.*(?<!\\),O=Evil/m);
});

it('profile/signer mismatches are refused: a root through an issuer, names on a device certificate', async () => {
  const keys = await generateKeyPair();
  const issuer = new PeculiarIssuer(ctx.pki!.intermediate);
  const base = { subject: { commonName: 'x' }, publicKeySpki: await exportPublicKeySpki(keys), now, lifetimeSeconds: 60 };
  await expectCode(() => issuer.issue({ ...base, profile: 'root-ca' }), 'internal');
  await expectCode(() => issuer.issue({ ...base, profile: 'device-client', dnsNames: ['evil.local'] }), 'internal');
  await expectCode(() => issuer.issue({ ...base, profile: 'tls-server' }), 'internal');
  await expectCode(() => issuer.issue({ ...base, profile: 'device-client', publicKeySpki: new Uint8Array([0x30, 0x00]) }), 'internal');
});

it('a self-signed root certifies its own key and verifies against itself only', async () => {
  const keys = await generateKeyPair('ec-p384');
  const issued = await issueRootCertificate(keys, { subject: { commonName: 'P384 Root' }, now, lifetimeSeconds: DAY });
  const dump = await openssl(['x509', '-inform', 'DER', '-noout', '-text'], issued.der);
  assert.match(dump, /Issuer: CN ?= ?P384 Root\s+Validity/);
  assert.match(dump, /ecdsa-with-SHA384/);
  assert.not.match(dump, /Authority Key Identifier/);
  assert.is(issued.notAfter.getTime() - issued.notBefore.getTime(), (DAY + 300) * 1000);
});

it.run();
