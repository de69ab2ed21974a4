/**
 * Issue 15 item 1: the lean CSR parser (shared/pki/csr.ts) against the @peculiar/x509 parser it
 * replaced (test/helpers/reference-csr-parser.ts). Valid CSRs of every key type and from three
 * builders (ours, openssl req, raw DER), the malformed corpus of the CSR tests and
 * test/helpers/raw-csr.ts, and thousands of seeded mutations of them (the est-fuzz mutations):
 * both parsers must give the same result, or refuse with the same error code. Where the lean
 * parser is deliberately stricter (it reads DER, not BER), the case is named below and the lean
 * parser must refuse it as csr_invalid.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { FleetcertError } from '#shared/errors.js';
import { buildCsr, parseCsr } from '#shared/pki/csr.js';
import { generateKeyPair, KEY_TYPES } from '#shared/pki/key-pair.js';
import { integer, oid, OIDS, rawEcCsr, sequence, tlv } from '../../../helpers/raw-csr.js';
import { referenceParseCsr } from '../../../helpers/reference-csr-parser.js';
import { openssl, run } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { prng } from '../../../helpers/prng.js';

const SEED = Number(process.env.FLEETCERT_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 32));
const MUTANTS = Number(process.env.FLEETCERT_DIFF_MUTANTS ?? 4000);

type Outcome =
  | { code: string; message?: string }
  | { commonName: string | undefined; spki: string; fingerprint: string; key: string; extensions: string[] };

async function outcome(parse: (der: Uint8Array) => Promise<Awaited<ReturnType<typeof parseCsr>>>, der: Uint8Array): Promise<Outcome> {
  try {
    const p = await parse(der);
    return {
      commonName: p.commonName,
      spki: Buffer.from(p.publicKeySpki).toString('hex'),
      fingerprint: p.publicKeyFingerprintSha256,
      key: `${p.key.algorithm} ${p.key.size}`,
      extensions: [...p.requestedExtensions],
    };
  } catch (err) {
    if (!(err instanceof FleetcertError)) throw err;
    return { code: err.code, message: err.message };
  }
}

async function corpus(): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const type of KEY_TYPES) {
    const keys = await generateKeyPair(type);
    out.set(`ours ${type}`, Buffer.from((await buildCsr({ keys, commonName: `dev-${type}_x.1` })).der));
    out.set(`ours ${type} with SAN`, Buffer.from((await buildCsr({ keys, commonName: 'a', dnsNames: ['a.local', 'b'] })).der));
  }
  await withTempDir(async (dir) => {
    const req = async (name: string, keyArgs: string[], subject: string, extra: string[] = []) => {
      const key = join(dir, `${out.size}.key`);
      await openssl(['genpkey', ...keyArgs, '-out', key]);
      const pem = await openssl(['req', '-new', '-key', key, '-subj', subject, ...extra]);
      out.set(name, Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
    };
    const ec = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    await req('openssl P-256', ec, '/CN=dev-ec');
    await req('openssl P-256 SHA-384', ec, '/CN=dev-ec384', ['-sha384']);
    await req('openssl P-256 SHA-512', ec, '/CN=dev-ec512', ['-sha512']);
    await req('openssl P-384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], '/CN=dev-p384');
    await req('openssl RSA-2048 with O', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], '/CN=dev-rsa/O=Plant 3');
    await req('openssl RSA-4096', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096'], '/CN=dev-rsa4096');
    await req('openssl RSA-1024', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], '/CN=weak');
    await req('openssl P-521', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], '/CN=p521');
    await req('openssl Ed25519', ['-algorithm', 'ed25519'], '/CN=ed');
    await req('openssl two CNs', ec, '/CN=a/CN=b');
    await req('openssl no subject', ec, '/');
    await req('openssl UTF-8 CN', ec, '/CN=d\u00e9v', ['-utf8']);
    await req('openssl challengePassword', ec, '/CN=cp', ['-addext', 'subjectAltName=DNS:x', '-passin', 'pass:x']);
    await openssl(['ecparam', '-name', 'prime256v1', '-param_enc', 'explicit', '-genkey', '-noout', '-out', join(dir, 'explicit')]);
    const explicit = await openssl(['req', '-new', '-key', join(dir, 'explicit'), '-subj', '/CN=rpi-explicit']);
    out.set('openssl explicit EC parameters', Buffer.from(explicit.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
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
    out.set('a certificate', Buffer.from(cert.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  });
  out.set('raw SHA-256', rawEcCsr({ commonName: 'rpi-1' }).der);
  out.set('raw SHA-1', rawEcCsr({ commonName: 'rpi-1', hash: 'sha1' }).der);
  out.set(
    'raw extensionRequest INTEGER',
    rawEcCsr({ commonName: 'rpi-1', attributes: [{ type: OIDS.extensionRequest, values: [integer(1)] }] }).der,
  );
  const basicConstraints = sequence(oid('2.5.29.19'), tlv(0x04, sequence()));
  out.set(
    'raw extensionRequest BC',
    rawEcCsr({ commonName: 'rpi-2', attributes: [{ type: OIDS.extensionRequest, values: [sequence(basicConstraints)] }] }).der,
  );
  out.set('raw unknown attribute', rawEcCsr({ commonName: 'rpi-3', attributes: [{ type: '1.2.3.4', values: [integer(7)] }] }).der);
  out.set('not a CSR', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]));
  out.set('empty', Buffer.alloc(0));
  out.set('oversize', Buffer.alloc(64 * 1024));
  return out;
}

const MUTATIONS: Record<string, (r: () => number, der: Buffer) => Buffer> = {
  bitFlips: (r, der) => {
    const out = Buffer.from(der);
    for (let i = 1 + Math.floor(r() * 8); i > 0; i -= 1) {
      const at = Math.floor(r() * out.length);
      out[at] = out[at]! ^ (1 << Math.floor(r() * 8));
    }
    return out;
  },
  randomByte: (r, der) => {
    const out = Buffer.from(der);
    out[Math.floor(r() * out.length)] = Math.floor(r() * 256);
    return out;
  },
  truncate: (r, der) => der.subarray(0, Math.floor(r() * der.length)),
  insert: (r, der) => {
    const at = Math.floor(r() * der.length);
    return Buffer.concat([
      der.subarray(0, at),
      Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256))),
      der.subarray(at),
    ]);
  },
  deleteRange: (r, der) => {
    const at = Math.floor(r() * der.length);
    return Buffer.concat([der.subarray(0, at), der.subarray(Math.min(der.length, at + 1 + Math.floor(r() * 16)))]);
  },
  wrongLength: (r, der) => {
    const out = Buffer.from(der);
    const tags = [...out.keys()].filter(
      (i) => i + 1 < out.length && [0x02, 0x03, 0x04, 0x06, 0x0c, 0x13, 0x30, 0x31, 0xa0].includes(out[i]!),
    );
    const at = tags[Math.floor(r() * tags.length)]! + 1;
    out[at] = (out[at]! + [-2, -1, 1, 2, 0x40][Math.floor(r() * 5)]!) & 0xff;
    return out;
  },
  trailing: (r, der) => Buffer.concat([der, Buffer.from([Math.floor(r() * 256)])]),
};

const EXTENSION_REQUEST = oid(OIDS.extensionRequest);

/**
 * The named ways the lean parser may differ, each asserted rather than skipped:
 * - `der`: the lean parser reads DER, the reference BER-ish (trailing bytes, non-minimal or
 *   overlong lengths it re-reads): the lean parser refuses the structure (csr_invalid) where the
 *   reference went on to a later check.
 * - `extension-meaning`: a requested extension's value is well-formed DER but not a valid value of
 *   its type (a GeneralName with an unknown tag). The reference decodes requested SAN / basic
 *   constraints values, the lean parser only checks they are DER (profiles ignore them), so it
 *   reports the broken signature of the mutated request (csr_signature_invalid) instead of csr_invalid.
 * - `signed-bytes`: the lean parser checks the key and the signature in the bytes sent; the
 *   reference checks a re-encoding of what it parsed (its `publicKey.rawData` and its tbs can
 *   differ from the bytes on the wire), and so let through, or refused later or for another
 *   reason, a request whose sent bytes do not verify. openssl (`req -verify`) is asked as the
 *   third opinion and must refuse the bytes.
 */
async function namedDifference(der: Buffer, lean: Outcome, reference: Outcome): Promise<string | undefined> {
  if (!('code' in lean)) return undefined;
  if (lean.code === 'csr_invalid') return 'code' in reference && reference.code === 'csr_invalid' ? undefined : 'der';
  const notDer = 'code' in reference && reference.code === 'csr_invalid' && reference.message === 'not a DER PKCS#10 certification request';
  if (lean.code === 'csr_signature_invalid' && notDer && der.includes(EXTENSION_REQUEST)) return 'extension-meaning';
  if (notDer) return undefined;
  const third = await run('openssl', ['req', '-inform', 'DER', '-verify', '-noout'], { input: der });
  // OpenSSL 3.0 `req -verify` exits 0 either way: read its verdict.
  return /verify OK/.test(third.stdout + third.stderr) ? undefined : 'signed-bytes';
}

test(`lean and reference CSR parsers agree on the corpus and ${MUTANTS} mutations (seed ${SEED})`, async () => {
  const base = await corpus();
  const disagreements: string[] = [];
  const named = new Map<string, number>();
  const codes = new Map<string, number>();
  const check = async (label: string, der: Buffer) => {
    const [lean, reference] = [await outcome(parseCsr, der), await outcome(referenceParseCsr, der)];
    const key = 'code' in lean ? lean.code : 'ok';
    codes.set(key, (codes.get(key) ?? 0) + 1);
    const same = 'code' in lean && 'code' in reference ? lean.code === reference.code : JSON.stringify(lean) === JSON.stringify(reference);
    if (same) return;
    const difference = label.includes('(') ? await namedDifference(der, lean, reference) : undefined;
    const detail = difference === 'der' && 'code' in lean ? `der: ${lean.message?.replace(/\d+/g, 'N')}` : difference;
    if (detail) named.set(detail, (named.get(detail) ?? 0) + 1);
    else disagreements.push(`${label}: lean ${JSON.stringify(lean)} reference ${JSON.stringify(reference)} ${der.toString('hex')}`);
  };
  for (const [label, der] of base) await check(label, der);
  assert.equal(disagreements, [], 'the unmutated corpus: no difference at all');
  const random = prng(SEED);
  const seeds = [...base].filter(([, der]) => der.length > 8 && der.length < 16 * 1024);
  const names = Object.keys(MUTATIONS);
  for (let i = 0; i < MUTANTS; i += 1) {
    const [label, der] = seeds[Math.floor(random() * seeds.length)]!;
    const mutation = names[Math.floor(random() * names.length)]!;
    await check(`${mutation}(${label})`, MUTATIONS[mutation]!(random, der));
  }
  if (process.env.FLEETCERT_DIFF_VERBOSE)
    console.log('lean outcomes', Object.fromEntries(codes), 'named differences', Object.fromEntries(named));
  assert.equal(disagreements.slice(0, 5), [], `${disagreements.length} unexplained disagreements`);
  // Every code the corpus is meant to reach was reached (the test is not vacuous).
  for (const code of ['ok', 'csr_invalid', 'csr_signature_invalid', 'key_too_weak', 'key_unsupported']) assert.ok(codes.has(code), code);
});

test.run();
