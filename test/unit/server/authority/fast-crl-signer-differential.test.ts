/**
 * The fast CRL signer writes exactly the CRL the reference (@peculiar/x509) signer writes: for
 * random revocation lists (0 to 300 entries; serials of 1 to 20 bytes, high bit set or not, with
 * leading zeros and colons in their spelling; every reason or none; revocation dates with
 * milliseconds, before and after 2050) under EC and RSA CAs, the TBSCertList is byte-identical
 * (ECDSA signatures are randomised, so only the signed part is compared). Each fast CRL is parsed
 * and its signature verified by fleetcert's own reader, and `openssl crl` verifies a large one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FastCrlSigner } from '#server/authority/fast-crl-signer.js';
import { PeculiarCrlSigner } from '#server/authority/peculiar-crl-signer.js';
import type { CrlRequest, RevokedEntry } from '#server/authority/crl-signer.js';
import { certificateToPem, normalizeSerial } from '#shared/pki/certificate.js';
import { parseCrl, REVOCATION_REASONS, type RevocationReason } from '#shared/pki/crl.js';
import { DerReader } from '#shared/pki/der-reader.js';
import { toPem } from '#shared/pki/encoding.js';
import { openssl } from '../../../helpers/run.js';
import { prng } from '../../../helpers/prng.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { makeTestPki, type TestPki } from '../../../helpers/test-pki.js';

const SEED = Number(process.env.FLEETCERT_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 32));
const LISTS_PER_CA = 40;
const REASONS = Object.keys(REVOCATION_REASONS) as RevocationReason[];

function tbsOf(der: Uint8Array): string {
  const reader = new DerReader(der, 'internal');
  const [tbs] = reader.expect(reader.root(), 0x30, 'CertificateList', 3, 3);
  return Buffer.from(reader.encoding(tbs!)).toString('hex');
}

function randomRequest(random: () => number, size: number, crlNumber: number): CrlRequest {
  const int = (n: number) => Math.floor(random() * n);
  const seen = new Set<string>();
  const serial = (): string => {
    const bytes = Array.from({ length: 1 + int(20) }, () => int(256));
    if (bytes[0] === 0 && bytes.length > 1) bytes[0] = 1 + int(255);
    const hex = Buffer.from(bytes).toString('hex');
    if (seen.has(normalizeSerial(hex))) return serial(); // a CRL lists a serial once
    seen.add(normalizeSerial(hex));
    // The spellings the registry and the CLI may hand over: upper case, colons, leading zero bytes.
    return [hex, hex.toUpperCase(), `00${hex}`, hex.match(/../g)!.join(':')][int(4)]!;
  };
  const date = () => new Date(Date.UTC(2020 + int(40), int(12), 1 + int(28), int(24), int(60), int(60), int(1000)));
  const entries: RevokedEntry[] = Array.from({ length: size }, () => {
    const reason = int(REASONS.length + 1);
    return { serialNumber: serial(), revokedAt: date(), ...(reason < REASONS.length ? { reason: REASONS[reason]! } : {}) };
  });
  const thisUpdate = new Date(Date.UTC(2026, int(12), 1 + int(28), int(24), int(60), int(60)));
  const far = int(3) === 0; // past 2049: GeneralizedTime
  const nextUpdate = new Date(far ? Date.UTC(2051, 0, 1) : thisUpdate.getTime() + (1 + int(30)) * 86_400_000);
  return { entries, thisUpdate, nextUpdate, crlNumber };
}

for (const caKeyType of ['ec-p256', 'rsa-2048'] as const) {
  test(`fast CRL signer = reference signer, ${caKeyType} CA (seed ${SEED})`, async () => {
    const pki: TestPki = await makeTestPki(new Date('2026-01-10T00:00:00Z'), caKeyType, `CRL ${caKeyType}`);
    const fast = new FastCrlSigner(pki.intermediate);
    const reference = new PeculiarCrlSigner(pki.intermediate);
    const random = prng(SEED ^ caKeyType.length);
    for (let i = 0; i < LISTS_PER_CA; i += 1) {
      const size = i === 0 ? 0 : i === 1 ? 1 : Math.floor(random() * 300);
      const request = randomRequest(random, size, i * 7919);
      const mine = await fast.sign(request);
      assert.is(tbsOf(mine), tbsOf(await reference.sign(request)), `list ${i} (${size} entries), seed ${SEED}`);
      const parsed = await parseCrl(mine, pki.intermediate.certificate);
      assert.is(parsed.entries.length, size);
      assert.is(parsed.crlNumber, i * 7919);
      for (const [k, entry] of request.entries.entries()) {
        assert.is(parsed.entries[k]!.serialNumber, normalizeSerial(entry.serialNumber));
        const code = entry.reason === undefined ? 0 : REVOCATION_REASONS[entry.reason];
        assert.is(parsed.entries[k]!.reason, code === 0 ? undefined : code, 'no reason code for unspecified');
      }
    }
  });
}

test('openssl verifies a fast CRL of 2,000 entries against its CA', async () => {
  const pki = await makeTestPki(new Date('2026-01-10T00:00:00Z'));
  const der = await new FastCrlSigner(pki.intermediate).sign(randomRequest(prng(SEED), 2_000, 42));
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'crl.pem'), toPem(der, 'X509 CRL'));
    await writeFile(join(dir, 'ca.pem'), certificateToPem(pki.intermediate.certificate));
    const out = await openssl(['crl', '-in', join(dir, 'crl.pem'), '-CAfile', join(dir, 'ca.pem'), '-noout', '-crlnumber']);
    assert.match(out, /crlNumber=0x2A/);
  });
});

test.run();
