/**
 * Issue 15 item 1: the fast issuer writes exactly what the reference (@peculiar/x509) issuer
 * writes. Both issue the same device certificate (same serial through injected randomness, same
 * validity, subject, key, extensions) for 1,200 random device ids over the whole id syntax and
 * every length 1..64, device keys EC P-256, EC P-384 and RSA-2048, under EC and RSA CAs and a CA
 * that reaches past 2049 (GeneralizedTime); the TBSCertificates must be byte-identical (ECDSA
 * signatures are randomised, so only the signed part can be compared). Every fast certificate is
 * then read by Node's X509Certificate and verified against the CA key, and all of them (not a
 * sample) go through one `openssl x509 -text` pass and one `openssl verify -purpose sslclient`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateIssuer, IssuedCertificate } from '#server/authority/certificate-issuer.js';
import { FastIssuer } from '#server/authority/fast-issuer.js';
import { PeculiarIssuer } from '#server/authority/peculiar-issuer.js';
import { certificateToPem } from '#shared/pki/certificate.js';
import { DerReader } from '#shared/pki/der-reader.js';
import { toPem } from '#shared/pki/encoding.js';
import { exportPublicKeySpki, generateKeyPair, type KeyType } from '#shared/pki/key-pair.js';
import { randomDeviceId } from '../../../helpers/issuer-conformance.js';
import { run } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { makeTestPki, type TestPki } from '../../../helpers/test-pki.js';
import { prng } from '../../../helpers/prng.js';

const IDS_PER_CA = 400;
const DEVICE_KEYS: Partial<Record<KeyType, number>> = { 'ec-p256': 12, 'ec-p384': 4, 'rsa-2048': 4 };

function tbsOf(der: Uint8Array): string {
  const reader = new DerReader(der, 'internal');
  const [tbs] = reader.expect(reader.root(), 0x30, 'Certificate', 3, 3);
  return Buffer.from(reader.encoding(tbs!)).toString('hex');
}

const SEED = Number(process.env.FLEETCERT_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 32));
const CAS = [
  { caKeyType: 'ec-p256', caFrom: new Date('2026-01-10T00:00:00Z') },
  { caKeyType: 'rsa-2048', caFrom: new Date('2026-01-10T00:00:00Z') },
  { caKeyType: 'ec-p256', caFrom: new Date('2049-06-01T00:00:00Z') },
] as const;

const spkis = new Map<KeyType, Uint8Array[]>();

for (const { caKeyType, caFrom } of CAS) {
  const it = suite(`fast issuer = reference issuer (${caKeyType} CA from ${caFrom.toISOString().slice(0, 10)}, seed ${SEED})`);
  const ctx: { pki?: TestPki; issued: IssuedCertificate[] } = { issued: [] };

  it.before(async () => {
    ctx.pki = await makeTestPki(caFrom, caKeyType, `Diff ${caKeyType}`);
    if (spkis.size === 0) {
      for (const [type, count] of Object.entries(DEVICE_KEYS) as [KeyType, number][]) {
        const keys = await Promise.all(Array.from({ length: count }, () => generateKeyPair(type)));
        spkis.set(type, await Promise.all(keys.map(exportPublicKeySpki)));
      }
    }
  });

  it(`${IDS_PER_CA} device certificates: byte-identical TBSCertificate`, async () => {
    const random = prng(SEED ^ caFrom.getTime() ^ (caKeyType === 'rsa-2048' ? 0x5a5a : 0));
    let serialBytes = new Uint8Array(16);
    const randomBytes = (n: number) => serialBytes.slice(0, n);
    const fast: CertificateIssuer = new FastIssuer(ctx.pki!.intermediate, { randomBytes });
    const reference: CertificateIssuer = new PeculiarIssuer(ctx.pki!.intermediate, { randomBytes });
    const keyTypes = [...spkis.keys()];
    for (let i = 0; i < IDS_PER_CA; i += 1) {
      serialBytes = Uint8Array.from({ length: 16 }, () => Math.floor(random() * 256));
      const keyType = keyTypes[i % keyTypes.length]!;
      const pool = spkis.get(keyType)!;
      const request = {
        profile: 'device-client' as const,
        subject: { commonName: randomDeviceId(1 + (i % 64), random) },
        publicKeySpki: pool[Math.floor(random() * pool.length)]!,
        now: new Date(caFrom.getTime() + 86_400_000 + Math.floor(random() * 400 * 86_400_000)),
        lifetimeSeconds: 60 + Math.floor(random() * 3 * 365 * 86_400),
        ...(i % 3 === 0 ? { backdateSeconds: Math.floor(random() * 7200) } : {}),
        // Half of them name a CRL distribution point (URLs of every length up to 200).
        ...(i % 2 === 0 ? { crlDistributionPoint: `http://crl.example/${'p'.repeat(Math.floor(random() * 180))}/issuing-ca.crl` } : {}),
      };
      const [a, b] = [await fast.issue(request), await reference.issue(request)];
      assert.is(tbsOf(a.der), tbsOf(b.der), `${request.subject.commonName} (${keyType}, ${request.now.toISOString()})`);
      assert.equal([a.serial, a.notBefore, a.notAfter], [b.serial, b.notBefore, b.notAfter]);
      ctx.issued.push(a);
    }
  });

  it("Node's X509Certificate reads every one and verifies it against the CA key", () => {
    const ca = new X509Certificate(new Uint8Array(ctx.pki!.intermediate.certificate.rawData));
    assert.is(ctx.issued.length, IDS_PER_CA);
    for (const issued of ctx.issued) {
      const cert = new X509Certificate(issued.der);
      assert.ok(cert.verify(ca.publicKey) && cert.checkIssued(ca), cert.subject);
      assert.is(cert.serialNumber.toLowerCase(), issued.serial);
    }
  });

  it('openssl reads every one (x509 -text) and verifies every one for sslclient', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'root.pem'), certificateToPem(ctx.pki!.root.certificate));
      await writeFile(join(dir, 'inter.pem'), certificateToPem(ctx.pki!.intermediate.certificate));
      const leaves: string[] = [];
      for (const [i, issued] of ctx.issued.entries()) {
        leaves.push(join(dir, `leaf${i}.pem`));
        await writeFile(leaves.at(-1)!, toPem(issued.der, 'CERTIFICATE'));
      }
      await writeFile(join(dir, 'all.pem'), ctx.issued.map((c) => toPem(c.der, 'CERTIFICATE')).join(''));
      // One process reads them all: crl2pkcs7 bundles the PEM file, pkcs7 -print_certs -text decodes each.
      const bundle = await run('openssl', ['crl2pkcs7', '-nocrl', '-certfile', join(dir, 'all.pem'), '-out', join(dir, 'all.p7')]);
      assert.is(bundle.code, 0, bundle.stderr);
      const text = await run('openssl', ['pkcs7', '-in', join(dir, 'all.p7'), '-print_certs', '-text', '-noout'], { timeoutMs: 120_000 });
      assert.is(text.code, 0, text.stderr);
      assert.is(text.stdout.match(/Version: 3 \(0x2\)/g)?.length, IDS_PER_CA);
      assert.is(text.stdout.match(/TLS Web Client Authentication/g)?.length, IDS_PER_CA);
      assert.is(text.stdout.match(/X509v3 CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/crl\.example\//g)?.length, IDS_PER_CA / 2);
      // At a time every certificate covers: each starts within 401 days of caFrom and lives at least 60 s.
      for (const issued of ctx.issued) {
        const attime = String(Math.floor(issued.notBefore.getTime() / 1000) + 30);
        if (issued !== ctx.issued[0] && issued !== ctx.issued.at(-1)) continue;
        const one = await run('openssl', verifyArgs(dir, attime, [leaves[ctx.issued.indexOf(issued)]!]));
        assert.is(one.code, 0, one.stderr);
      }
      // Everything at once, each at its own validity: openssl verify takes one -attime, so use -no_check_time.
      const all = await run('openssl', [...verifyArgs(dir, undefined, leaves)], { timeoutMs: 120_000 });
      assert.is(all.code, 0, all.stderr);
      assert.is(all.stdout.match(/: OK$/gm)?.length, IDS_PER_CA, all.stdout.slice(0, 500));
    });
  });

  it.run();
}

function verifyArgs(dir: string, attime: string | undefined, leaves: readonly string[]): string[] {
  return [
    'verify',
    ...(attime === undefined ? ['-no_check_time'] : ['-attime', attime]),
    '-purpose',
    'sslclient',
    '-CAfile',
    join(dir, 'root.pem'),
    '-untrusted',
    join(dir, 'inter.pem'),
    ...leaves,
  ];
}
