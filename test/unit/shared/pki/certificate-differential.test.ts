/**
 * Issue 15 item 7: the agent reads certificates without @peculiar/x509 (shared/pki/certificate.ts
 * walks the DER; the library costs an idle board ~12 MiB). Held to the library it replaced: for
 * seeded random certificates (names of every string type the library decodes, the characters its
 * escaping treats specially, unknown attribute types, multi-valued RDNs; serials with a high bit;
 * UTCTime and GeneralizedTime validity; DNS and IPv4/IPv6 names; CA or not), every fact read must
 * equal the library's: subject and issuer text (CRLs and chains are matched by it), CN, serial,
 * validity, SPKI, basic constraints, SANs. PEM in and out must match its PemConverter too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { webcrypto } from 'node:crypto';
import { describeCertificate, readCertificate, readCertificates } from '#shared/pki/certificate.js';
import { toDerBlocks, toPem } from '#shared/pki/encoding.js';
import { generateKeyPair } from '#shared/pki/key-pair.js';
import { x509 } from '#shared/pki/x509-provider.js';
import { prng } from '../../../helpers/prng.js';

const SEED = Number(process.env.FLEETCERT_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 32));
const CERTIFICATES = 150;

const TYPES = ['CN', 'O', 'OU', 'L', 'ST', 'SN', 'T', 'G', 'I', '2.5.4.17', '1.3.6.1.4.1.99999.1'] as const;
const STRING_TYPES = ['utf8String', 'printableString', 'bmpString', 'ia5String', 'universalString'] as const;
const PRINTABLE = "ABCxyz019 '()+,-./:=?";
const SPECIAL = ',+"\\<>;# \t\n\r=é€😀';

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function text(random: () => number, alphabet: string, max: number): string {
  // Code points, not segments: the alphabet holds no combined characters.
  // oxlint-disable-next-line typescript/no-misused-spread -- see above
  const chars = [...alphabet];
  return Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(random, chars)).join('');
}

/** A JSON name for the library's generator: 1-4 RDNs, sometimes multi-valued, assorted string types. */
function randomName(random: () => number): x509.JsonName {
  return Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
    const rdn: Record<string, x509.JsonAttributeObject[]> = {};
    for (let n = 0; n < 1 + Math.floor(random() * 2); n += 1) {
      const type = pick(random, TYPES);
      const stringType = pick(random, STRING_TYPES);
      const value =
        stringType === 'printableString'
          ? text(random, PRINTABLE, 12)
          : stringType === 'ia5String'
            ? text(random, `${PRINTABLE},+"\\<>;#`, 12)
            : stringType === 'utf8String'
              ? text(random, `${PRINTABLE}${SPECIAL}`, 12)
              : text(random, `${PRINTABLE},+;#é`, 8);
      (rdn[type] ??= []).push({ [stringType]: value });
    }
    return rdn;
  }) as x509.JsonName;
}

function randomIp(random: () => number): string {
  if (random() < 0.5) return Array.from({ length: 4 }, () => Math.floor(random() * 256)).join('.');
  // IPv6 with runs of zero groups, which the library compresses.
  return Array.from({ length: 8 }, () => (random() < 0.5 ? '0' : Math.floor(random() * 65536).toString(16))).join(':');
}

function randomDate(random: () => number): Date {
  // 1950..2079: both sides of UTCTime's 2049 limit, where the library switches to GeneralizedTime.
  return new Date(
    Date.UTC(1950 + Math.floor(random() * 130), Math.floor(random() * 12), 1 + Math.floor(random() * 28), 0, 0, 0) +
      Math.floor(random() * 86_400) * 1000,
  );
}

test(`seed ${SEED}: ${CERTIFICATES} random certificates read as the library reads them`, async () => {
  const random = prng(SEED);
  const keys = await generateKeyPair();
  for (let i = 0; i < CERTIFICATES; i += 1) {
    const extensions: x509.Extension[] = [];
    const ca = random();
    if (ca < 0.6) extensions.push(new x509.BasicConstraintsExtension(ca < 0.3, ca < 0.15 ? 0 : undefined, true));
    if (random() < 0.6) {
      const names = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
        random() < 0.5 ? { type: 'dns' as const, value: text(random, 'abc-.019', 12) } : { type: 'ip' as const, value: randomIp(random) },
      );
      extensions.push(new x509.SubjectAlternativeNameExtension(names));
    }
    const serial = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 20) }, () => Math.floor(random() * 256))).toString('hex');
    const [from, to] = [randomDate(random), randomDate(random)].sort((a, b) => a.getTime() - b.getTime());
    const reference = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: randomName(random),
      issuer: randomName(random),
      notBefore: from!,
      notAfter: to!,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions,
    });
    const der = new Uint8Array(reference.rawData);
    const lean = readCertificate(der);
    const info = describeCertificate(lean);
    const basic = reference.getExtension(x509.BasicConstraintsExtension);
    const san = reference.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
    const context = `seed ${SEED}, certificate ${i}: ${reference.subject}`;
    assert.equal(
      {
        subject: lean.subject,
        issuer: lean.issuer,
        cn: info.subjectCommonName,
        serial: lean.serialNumber,
        notBefore: lean.notBefore.getTime(),
        notAfter: lean.notAfter.getTime(),
        spki: Buffer.from(lean.publicKey.rawData).toString('hex'),
        isCa: info.isCa,
        dns: info.dnsNames,
        ip: info.ipAddresses,
      },
      {
        subject: reference.subject,
        issuer: reference.issuer,
        cn: reference.subjectName.getField('CN')[0],
        serial: reference.serialNumber,
        notBefore: reference.notBefore.getTime(),
        notAfter: reference.notAfter.getTime(),
        spki: Buffer.from(reference.publicKey.rawData).toString('hex'),
        isCa: basic?.ca ?? false,
        dns: san.filter((n) => n.type === 'dns').map((n) => n.value),
        ip: san.filter((n) => n.type === 'ip').map((n) => n.value),
      },
      context,
    );
    assert.is(info.fingerprintSha256, Buffer.from(await webcrypto.subtle.digest('SHA-256', der)).toString('hex'), context);
  }
});

test('PEM written and read as the library writes and reads it: bundles, headers, CRLF, text between blocks', async () => {
  const random = prng(SEED);
  const ders = Array.from({ length: 5 }, (_, i) =>
    Uint8Array.from({ length: 1 + i * 47 + Math.floor(random() * 300) }, () => Math.floor(random() * 256)),
  );
  for (const der of ders) assert.is(toPem(der, 'CERTIFICATE'), `${x509.PemConverter.encode(der.slice().buffer, 'CERTIFICATE')}\n`);
  const bundle = ders.map((d) => toPem(d, 'CERTIFICATE')).join('');
  const headers = 'Proc-Type: 4,ENCRYPTED\nDEK-Info: AES\n\n';
  const withHeaders = `junk before\r\n${toPem(ders[0]!, 'X').replace('-----\n', `-----\n${headers}`)}between\n${toPem(ders[1]!, 'Y')}`;
  for (const pem of [bundle, bundle.replace(/\n/g, '\r\n'), withHeaders]) {
    const ours = toDerBlocks(pem, 'certificate_invalid', 4096).map((b) => Buffer.from(b).toString('hex'));
    const theirs = x509.PemConverter.decode(pem).map((b) => Buffer.from(b).toString('hex'));
    assert.equal(ours, theirs);
  }
  assert.throws(() => toDerBlocks('-----BEGIN X-----\nA===\n-----END X-----\n', 'certificate_invalid', 4096), /malformed PEM/);
  assert.throws(() => toDerBlocks('no pem here', 'certificate_invalid', 4096), /not PEM/);
});

test('a chain file reads leaf first; garbage is certificate_invalid, never a crash', async () => {
  const keys = await generateKeyPair();
  const make = (cn: string) =>
    x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: `CN=${cn}`,
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2027-01-01T00:00:00Z'),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
  const pem = [await make('leaf'), await make('ca')].map((c) => toPem(new Uint8Array(c.rawData), 'CERTIFICATE')).join('');
  assert.equal(
    readCertificates(pem).map((c) => c.subjectCommonName),
    ['leaf', 'ca'],
  );
  const der = new Uint8Array((await make('x')).rawData);
  for (const bad of [der.subarray(0, der.length - 1), Uint8Array.of(0x30, 0x00), Uint8Array.from([...der, 0])]) {
    assert.throws(
      () => readCertificate(bad),
      (err: Error & { code?: string }) => err.code === 'certificate_invalid',
    );
  }
});

test.run();
