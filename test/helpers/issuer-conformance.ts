/**
 * What any CertificateIssuer must do, as one suite run against a factory: today's @peculiar
 * issuer runs it (test/unit/server/authority/issuer-conformance.test.ts), and so must a fast or
 * hardware-backed one. Expectations are written from the profile rules and RFC 5280, checked
 * with readers that are not the issuer's own (node:crypto, openssl), byte for byte where the
 * encoding is fixed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CaSigner, CertificateIssuer, IssueRequest } from '#server/authority/certificate-issuer.js';
import type { CertificateProfile } from '#server/authority/certificate-profiles.js';
import { certificateToPem, readCertificate } from '#shared/pki/certificate.js';
import { toPem } from '#shared/pki/encoding.js';
import { toX509 } from '#shared/pki/x509-provider.js';
import { exportPublicKeySpki, generateKeyPair, type KeyType } from '#shared/pki/key-pair.js';
import { expectCode } from './expect-error.js';
import { openssl, run } from './run.js';
import { withTempDir } from './temp-dir.js';
import { makeTestPki, type TestPki } from './test-pki.js';

export type IssuerFactory = (
  ca: CaSigner,
  options: { randomBytes?: (size: number) => Uint8Array },
) => CertificateIssuer | Promise<CertificateIssuer>;

export interface ConformanceOptions {
  /** Profiles the implementation issues (a fast issuer may do device-client only). */
  readonly profiles?: readonly Exclude<CertificateProfile, 'root-ca'>[];
  /** CA key types to run under. */
  readonly caKeyTypes?: readonly KeyType[];
}

const NOW = new Date('2026-03-01T12:00:00.750Z'); // a fraction of a second on purpose
const SECOND = Math.floor(NOW.getTime() / 1000) * 1000;
const ID_FIRST = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_REST = `${ID_FIRST}._-`;

// Extension OIDs and the fixed DER of their values (RFC 5280 §4.2.1).
const OID = { ski: '2.5.29.14', ku: '2.5.29.15', san: '2.5.29.17', bc: '2.5.29.19', aki: '2.5.29.35', eku: '2.5.29.37' };
const BC_END_ENTITY = '3000';
const BC_CA_PATHLEN_0 = '30060101ff020100';
const KU_DIGITAL_SIGNATURE = '03020780';
const KU_DIGITAL_SIGNATURE_KEY_ENCIPHERMENT = '030205a0';
const KU_CERT_SIGN_CRL_SIGN = '03020106';
const EKU_CLIENT_AUTH = '300a06082b06010505070302';
const EKU_SERVER_AUTH = '300a06082b06010505070301';

/** A device id from the whole id syntax, of the given length (1..64). */
export function randomDeviceId(length: number, random: () => number = Math.random): string {
  let id = ID_FIRST[Math.floor(random() * ID_FIRST.length)]!;
  while (id.length < length) id += ID_REST[Math.floor(random() * ID_REST.length)]!;
  return id;
}

/** SKI method 1: SHA-1 of the subjectPublicKey BIT STRING's bits, derived with node:crypto, not the issuer's code. */
function expectedKeyId(spki: Uint8Array): string {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  let bits: Buffer;
  if (key.asymmetricKeyType === 'rsa') {
    bits = key.export({ format: 'der', type: 'pkcs1' });
  } else {
    const jwk = key.export({ format: 'jwk' });
    bits = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  }
  return createHash('sha1').update(bits).digest('hex');
}

interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: string;
}

function extensionsOf(der: Uint8Array): Extension[] {
  // Spread first: the library's Extensions is an Array subclass, and deep equality compares constructors.
  return [...toX509(readCertificate(der)).extensions].map((e) => ({
    oid: e.type,
    critical: e.critical,
    value: Buffer.from(e.value).toString('hex'),
  }));
}

function issuerKeyId(ca: CaSigner): string {
  const ski = toX509(ca.certificate).extensions.find((e) => e.type === OID.ski);
  assert.ok(ski, 'the test CA has an SKI');
  return Buffer.from(ski.value).toString('hex').slice(4); // OCTET STRING header 04 14
}

export function issuerConformance(name: string, factory: IssuerFactory, options: ConformanceOptions = {}): void {
  const profiles = options.profiles ?? ['device-client', 'tls-server', 'intermediate-ca'];
  for (const caKeyType of options.caKeyTypes ?? (['ec-p256', 'rsa-2048'] as const)) {
    const ctx: { pki?: TestPki; issuer?: CertificateIssuer } = {};
    const it = suite(`${name} conformance (${caKeyType} CA)`, ctx);
    const request = async (overrides: Partial<IssueRequest> & { keyType?: KeyType } = {}): Promise<IssueRequest> => {
      const { keyType, ...rest } = overrides;
      return {
        profile: 'device-client',
        subject: { commonName: 'dev-1' },
        publicKeySpki: await exportPublicKeySpki(await generateKeyPair(keyType)),
        now: NOW,
        lifetimeSeconds: 30 * 86_400,
        ...rest,
      };
    };

    it.before(async () => {
      ctx.pki = await makeTestPki(new Date(SECOND - 86_400_000), caKeyType, `Conformance ${caKeyType}`);
      ctx.issuer = await factory(ctx.pki.intermediate, {});
    });

    it('exposes the issuing CA it signs with', () => {
      assert.is(certificateToPem(ctx.issuer!.certificate), certificateToPem(ctx.pki!.intermediate.certificate));
    });

    if (profiles.includes('device-client')) {
      it('device-client: exactly CA:FALSE, digitalSignature, clientAuth (BC and KU critical), SKI of the key, AKI of the CA', async () => {
        for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
          const req = await request({ keyType });
          const issued = await ctx.issuer!.issue(req);
          assert.equal(
            extensionsOf(issued.der),
            [
              { oid: OID.bc, critical: true, value: BC_END_ENTITY },
              { oid: OID.ku, critical: true, value: KU_DIGITAL_SIGNATURE },
              { oid: OID.eku, critical: false, value: EKU_CLIENT_AUTH },
              { oid: OID.ski, critical: false, value: `0414${expectedKeyId(req.publicKeySpki)}` },
              { oid: OID.aki, critical: false, value: `30168014${issuerKeyId(ctx.pki!.intermediate)}` },
            ],
            keyType,
          );
        }
      });

      it('device-client: subject is the one CN asked for, issuer is the CA subject, the key is the one asked for', async () => {
        for (const length of [1, 2, 17, 63, 64]) {
          const id = randomDeviceId(length);
          const req = await request({ subject: { commonName: id } });
          const issued = await ctx.issuer!.issue(req);
          const cert = toX509(readCertificate(issued.der));
          assert.equal(cert.subjectName.toJSON(), [{ CN: [id] }]);
          assert.is(
            Buffer.from(cert.issuerName.toArrayBuffer()).toString('hex'),
            Buffer.from(toX509(ctx.pki!.intermediate.certificate).subjectName.toArrayBuffer()).toString('hex'),
          );
          assert.is(Buffer.from(cert.publicKey.rawData).toString('hex'), Buffer.from(req.publicKeySpki).toString('hex'));
          const node = new X509Certificate(issued.der);
          assert.ok(
            node.verify(new X509Certificate(new Uint8Array(ctx.pki!.intermediate.certificate.rawData)).publicKey),
            'signature by the CA key',
          );
          assert.ok(node.checkIssued(new X509Certificate(new Uint8Array(ctx.pki!.intermediate.certificate.rawData))));
        }
      });

      it('a CN with DN metacharacters stays one CN (no attribute injection)', async () => {
        const issued = await ctx.issuer!.issue(await request({ subject: { commonName: 'a,O=Evil+CN=root' } }));
        assert.equal(toX509(readCertificate(issued.der)).subjectName.toJSON(), [{ CN: ['a,O=Evil+CN=root'] }]);
      });

      it("serials: 16 bytes, positive, no leading zero, distinct; the returned serial is the certificate's", async () => {
        const serials = new Set<string>();
        const req = await request();
        for (let i = 0; i < 100; i += 1) {
          const issued = await ctx.issuer!.issue(req);
          assert.match(issued.serial, /^[0-9a-f]{32}$/);
          const first = parseInt(issued.serial.slice(0, 2), 16);
          assert.ok(first >= 0x01 && first <= 0x7f, issued.serial);
          assert.is(new X509Certificate(issued.der).serialNumber.toLowerCase(), issued.serial);
          serials.add(issued.serial);
        }
        assert.is(serials.size, 100);
      });

      it('serials come from the injected randomness, made positive and minimal', async () => {
        const zeros = await factory(ctx.pki!.intermediate, { randomBytes: (n) => new Uint8Array(n) });
        assert.is((await zeros.issue(await request())).serial, `01${'00'.repeat(15)}`);
        const ones = await factory(ctx.pki!.intermediate, { randomBytes: (n) => new Uint8Array(n).fill(0xff) });
        assert.is((await ones.issue(await request())).serial, `02${'ff'.repeat(15)}`);
      });

      it('validity: from the whole second of now, backdated 5 min by default or as asked; the answer matches the certificate', async () => {
        for (const [backdateSeconds, expected] of [
          [undefined, 300],
          [0, 0],
          [7200, 7200],
        ] as const) {
          const issued = await ctx.issuer!.issue(
            await request({ lifetimeSeconds: 3600, ...(backdateSeconds === undefined ? {} : { backdateSeconds }) }),
          );
          const node = new X509Certificate(issued.der);
          assert.is(issued.notBefore.getTime(), SECOND - expected * 1000);
          assert.is(issued.notAfter.getTime(), SECOND + 3600 * 1000);
          assert.is(new Date(node.validFrom).getTime(), issued.notBefore.getTime());
          assert.is(new Date(node.validTo).getTime(), issued.notAfter.getTime());
        }
      });

      it('never outlives the issuer: a lifetime past the CA ends with the CA', async () => {
        const issued = await ctx.issuer!.issue(await request({ lifetimeSeconds: 100 * 365 * 86_400 }));
        const caNotAfter = ctx.pki!.intermediate.certificate.notAfter.getTime();
        assert.is(issued.notAfter.getTime(), caNotAfter);
        assert.is(new Date(new X509Certificate(issued.der).validTo).getTime(), caNotAfter);
      });

      it('openssl x509 -text reads it and openssl verify accepts it for sslclient (not sslserver)', async () => {
        for (const keyType of ['ec-p256', 'rsa-2048'] as const) {
          const issued = await ctx.issuer!.issue(await request({ keyType, subject: { commonName: randomDeviceId(64) } }));
          const text = await openssl(['x509', '-inform', 'DER', '-noout', '-text'], issued.der);
          assert.match(text, /Version: 3/);
          assert.match(text, caKeyType.startsWith('rsa') ? /sha256WithRSAEncryption/ : /ecdsa-with-SHA256/);
          assert.is((await verify(ctx.pki!, issued.der, ['-purpose', 'sslclient'])).code, 0);
          assert.is.not((await verify(ctx.pki!, issued.der, ['-purpose', 'sslserver'])).code, 0);
        }
      });
    }

    if (profiles.includes('tls-server')) {
      it('tls-server: serverAuth, SAN DNS then IP (deduplicated), keyEncipherment for RSA keys only; verifies the host', async () => {
        for (const keyType of ['ec-p256', 'rsa-2048'] as const) {
          const req = await request({
            keyType,
            profile: 'tls-server',
            subject: { commonName: 'broker.local' },
            dnsNames: ['broker.local', 'broker', 'broker.local'],
            ipAddresses: ['127.0.0.1'],
          });
          const issued = await ctx.issuer!.issue(req);
          const ext = extensionsOf(issued.der);
          assert.equal(
            ext.map((e) => [e.oid, e.critical]),
            [
              [OID.bc, true],
              [OID.ku, true],
              [OID.eku, false],
              [OID.san, false],
              [OID.ski, false],
              [OID.aki, false],
            ],
          );
          assert.is(ext[1]!.value, keyType === 'rsa-2048' ? KU_DIGITAL_SIGNATURE_KEY_ENCIPHERMENT : KU_DIGITAL_SIGNATURE);
          assert.is(ext[2]!.value, EKU_SERVER_AUTH);
          // [2] dNSName "broker.local", [2] "broker", [7] iPAddress 127.0.0.1
          assert.is(
            ext[3]!.value,
            `301c820c${Buffer.from('broker.local').toString('hex')}8206${Buffer.from('broker').toString('hex')}87047f000001`,
          );
          const ok = await verify(ctx.pki!, issued.der, ['-purpose', 'sslserver', '-verify_hostname', 'broker']);
          assert.is(ok.code, 0, ok.stderr);
        }
      });
    }

    if (profiles.includes('intermediate-ca')) {
      it('intermediate-ca: CA:TRUE pathlen:0 and keyCertSign+cRLSign, both critical; no EKU', async () => {
        const req = await request({ profile: 'intermediate-ca', subject: { commonName: 'Sub CA', organization: 'fleetcert tests' } });
        const issued = await ctx.issuer!.issue(req);
        assert.equal(extensionsOf(issued.der), [
          { oid: OID.bc, critical: true, value: BC_CA_PATHLEN_0 },
          { oid: OID.ku, critical: true, value: KU_CERT_SIGN_CRL_SIGN },
          { oid: OID.ski, critical: false, value: `0414${expectedKeyId(req.publicKeySpki)}` },
          { oid: OID.aki, critical: false, value: `30168014${issuerKeyId(ctx.pki!.intermediate)}` },
        ]);
        assert.equal(toX509(readCertificate(issued.der)).subjectName.toJSON(), [{ CN: ['Sub CA'] }, { O: ['fleetcert tests'] }]);
      });
    }

    it('refuses what no issuer may sign: a root, a lifetime of zero, a negative backdate, a key that is not SPKI', async () => {
      await expectCode(async () => ctx.issuer!.issue(await request({ profile: 'root-ca' })), 'internal');
      await expectCode(async () => ctx.issuer!.issue(await request({ lifetimeSeconds: 0 })), 'internal');
      await expectCode(async () => ctx.issuer!.issue(await request({ backdateSeconds: -1 })), 'internal');
      await expectCode(
        async () => ctx.issuer!.issue(await request({ publicKeySpki: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]) })),
        'internal',
      );
    });

    it.run();
  }
}

/** openssl verify against the test PKI at the suite's fixed time. */
async function verify(pki: TestPki, der: Uint8Array, extra: readonly string[]) {
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'root.pem'), certificateToPem(pki.root.certificate));
    await writeFile(join(dir, 'inter.pem'), certificateToPem(pki.intermediate.certificate));
    await writeFile(join(dir, 'leaf.pem'), toPem(der, 'CERTIFICATE'));
    const attime = String(Math.floor(SECOND / 1000) + 60);
    return run('openssl', [
      'verify',
      '-attime',
      attime,
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'inter.pem'),
      ...extra,
      join(dir, 'leaf.pem'),
    ]);
  });
}
