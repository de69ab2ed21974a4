/**
 * CSRs that no well-behaved library would build, assembled byte by byte in DER and signed with
 * node:crypto: odd attributes, old hashes. Also the few DER primitives the fuzz suite mutates with.
 */
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a! * 40 + b!];
  for (const arc of rest) {
    const groups: number[] = [];
    for (let n = arc; ; n = Math.floor(n / 128)) {
      groups.unshift(n % 128);
      if (n < 128) break;
    }
    bytes.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(bytes));
}

export const OIDS = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  ecdsaWithSha1: '1.2.840.10045.4.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

export const sequence = (...parts: Uint8Array[]): Buffer => tlv(0x30, ...parts);
export const set = (...parts: Uint8Array[]): Buffer => tlv(0x31, ...parts);
export const integer = (value: number): Buffer => tlv(0x02, Buffer.from([value]));

export interface RawCsrParams {
  readonly commonName: string;
  /** Attribute values keyed by attribute OID; each value is already DER. */
  readonly attributes?: readonly { readonly type: string; readonly values: readonly Uint8Array[] }[];
  readonly hash?: 'sha1' | 'sha256';
  /** An EC private key; a fresh P-256 one by default. */
  readonly privateKey?: KeyObject;
}

/** A PKCS#10 CSR signed with ECDSA: `der` as sent (before base64), and the key it carries. */
export function rawEcCsr(params: RawCsrParams): { der: Buffer; privateKey: KeyObject } {
  const privateKey = params.privateKey ?? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const name = sequence(set(sequence(oid(OIDS.commonName), tlv(0x0c, Buffer.from(params.commonName)))));
  const attributes = (params.attributes ?? []).map((a) => sequence(oid(a.type), set(...a.values)));
  const info = sequence(integer(0), name, spki, tlv(0xa0, ...attributes));
  const hash = params.hash ?? 'sha256';
  const signature = sign(hash, info, privateKey);
  const algorithm = sequence(oid(hash === 'sha1' ? OIDS.ecdsaWithSha1 : OIDS.ecdsaWithSha256));
  return { der: sequence(info, algorithm, tlv(0x03, Buffer.from([0]), signature)), privateKey };
}
