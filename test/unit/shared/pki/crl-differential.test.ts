/**
 * The lean CRL reader (shared/pki/crl.ts) against the @peculiar reader it replaced
 * (test/helpers/reference-crl-parser.ts): on CRLs from both signers (EC and RSA CAs, 0 to 250
 * entries, every reason or none, times either side of 2050) the two read exactly the same thing,
 * with and without checking the signature; on thousands of seeded mutations of them (a byte
 * changed, the bytes cut short, a byte added) the lean reader never accepts a CRL the reference
 * refuses once the signature is checked, and never fails other than with crl_invalid. It may
 * refuse more: it reads DER only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FastCrlSigner } from '#server/authority/fast-crl-signer.js';
import { PeculiarCrlSigner } from '#server/authority/peculiar-crl-signer.js';
import type { CrlSigner, RevokedEntry } from '#server/authority/crl-signer.js';
import { isFleetcertError } from '#shared/errors.js';
import { parseCrl, REVOCATION_REASONS, type CrlInfo, type RevocationReason } from '#shared/pki/crl.js';
import { prng } from '../../../helpers/prng.js';
import { parseCrlReference } from '../../../helpers/reference-crl-parser.js';
import { makeTestPki, type TestPki } from '../../../helpers/test-pki.js';

const SEED = Number(process.env.FLEETCERT_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 32));
const MUTANTS = 3_000;
const REASONS = Object.keys(REVOCATION_REASONS) as RevocationReason[];

type Outcome = { info: string } | { code: string };
async function outcome(parse: typeof parseCrl, der: Uint8Array, issuer?: TestPki['intermediate']['certificate']): Promise<Outcome> {
  try {
    const info: CrlInfo = await parse(der, issuer);
    return { info: JSON.stringify(info) };
  } catch (err) {
    if (!isFleetcertError(err)) throw err; // never a crash
    return { code: err.code };
  }
}

async function corpus(random: () => number): Promise<{ der: Uint8Array; pki: TestPki }[]> {
  const out: { der: Uint8Array; pki: TestPki }[] = [];
  for (const keyType of ['ec-p256', 'rsa-2048'] as const) {
    const pki = await makeTestPki(new Date('2026-01-10T00:00:00Z'), keyType, `Lean ${keyType}`);
    const signers: CrlSigner[] = [new FastCrlSigner(pki.intermediate), new PeculiarCrlSigner(pki.intermediate)];
    for (let i = 0; i < 12; i += 1) {
      const entries: RevokedEntry[] = Array.from({ length: i === 0 ? 0 : Math.floor(random() * 250) }, (_, k) => {
        const reason = Math.floor(random() * (REASONS.length + 1));
        return {
          serialNumber: (k + 1).toString(16) + Math.floor(random() * 2 ** 48).toString(16),
          revokedAt: new Date(Date.UTC(2020 + Math.floor(random() * 40), 0, 1) + Math.floor(random() * 3e10)),
          ...(reason < REASONS.length ? { reason: REASONS[reason]! } : {}),
        };
      });
      const thisUpdate = new Date(Date.UTC(2026, 5, 1));
      const nextUpdate = new Date(i % 3 === 0 ? Date.UTC(2052, 0, 1) : Date.UTC(2026, 5, 8));
      out.push({ der: await signers[i % 2]!.sign({ entries, thisUpdate, nextUpdate, crlNumber: i * 100_003 }), pki });
    }
  }
  return out;
}

function mutate(random: () => number, der: Uint8Array): Uint8Array {
  const out = Buffer.from(der);
  const kind = Math.floor(random() * 4);
  if (kind === 0) return out.subarray(0, Math.floor(random() * out.length));
  if (kind === 1) return Buffer.concat([out, Buffer.from([Math.floor(random() * 256)])]);
  const at = Math.floor(random() * out.length);
  out[at] = kind === 2 ? Math.floor(random() * 256) : out[at]! ^ (1 << Math.floor(random() * 8));
  return out;
}

test(`lean and reference CRL readers agree (seed ${SEED})`, async () => {
  const random = prng(SEED);
  const base = await corpus(random);
  for (const { der, pki } of base) {
    assert.equal(await outcome(parseCrl, der), await outcome(parseCrlReference, der), 'unverified');
    const verified = await outcome(parseCrl, der, pki.intermediate.certificate);
    assert.ok('info' in verified, JSON.stringify(verified));
    assert.equal(verified, await outcome(parseCrlReference, der, pki.intermediate.certificate), 'verified');
    // Another CA's CRL: both refuse it.
    const other = base.find((b) => b.pki !== pki)!.pki.intermediate.certificate;
    assert.equal(await outcome(parseCrl, der, other), { code: 'crl_invalid' });
  }
  const codes = new Map<string, number>();
  for (let i = 0; i < MUTANTS; i += 1) {
    const { der, pki } = base[Math.floor(random() * base.length)]!;
    const mutant = mutate(random, der);
    const unverified = await outcome(parseCrl, mutant); // read without a signature check (crl sync's first look): never a crash
    if ('code' in unverified) assert.is(unverified.code, 'crl_invalid');
    const lean = await outcome(parseCrl, mutant, pki.intermediate.certificate);
    const key = 'code' in lean ? lean.code : 'ok';
    codes.set(key, (codes.get(key) ?? 0) + 1);
    if ('code' in lean) {
      assert.is(lean.code, 'crl_invalid', `mutant ${i}`);
      continue;
    }
    // Accepted: the reference accepts it too and reads the same.
    assert.equal(
      lean,
      await outcome(parseCrlReference, mutant, pki.intermediate.certificate),
      `mutant ${i}: ${Buffer.from(mutant).toString('hex').slice(0, 200)}`,
    );
  }
  if (process.env.FLEETCERT_DIFF_VERBOSE) console.log('lean outcomes', Object.fromEntries(codes));
  assert.ok((codes.get('crl_invalid') ?? 0) > MUTANTS / 2, JSON.stringify(Object.fromEntries(codes)));
});

test.run();
