/**
 * A minimal DER writer (X.690): the few encodings the server assembles from bytes it already
 * has, without an ASN.1 library re-parsing them. Every hand-written DER in fleetcert goes
 * through here, so these encodings are tested once (test/unit/server/pki/der-writer.test.ts).
 */
import { FleetcertError } from '../../shared/errors.js';

export const DER_TAG = {
  integer: 0x02,
  objectIdentifier: 0x06,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Definite length: short form below 128, else 0x80|n followed by n big-endian bytes. */
export function derLength(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new FleetcertError('internal', `invalid DER length ${length}`);
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** Tag, length, and the contents concatenated in the given order. */
export function derTlv(tag: number, contents: readonly Uint8Array[]): Uint8Array {
  const size = contents.reduce((sum, c) => sum + c.byteLength, 0);
  const length = derLength(size);
  const out = new Uint8Array(1 + length.byteLength + size);
  out[0] = tag;
  out.set(length, 1);
  let offset = 1 + length.byteLength;
  for (const c of contents) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

export function derSequence(items: readonly Uint8Array[]): Uint8Array {
  return derTlv(DER_TAG.sequence, items);
}

/**
 * A SET OF. DER wants the elements sorted by their encodings; the caller passes them sorted
 * (zero or one element, as everywhere today, is sorted by definition).
 */
export function derSet(items: readonly Uint8Array[]): Uint8Array {
  return derTlv(DER_TAG.set, items);
}

/** A context-specific constructed tag [n] (EXPLICIT, or IMPLICIT over a SET/SEQUENCE OF). */
export function derContext(tagNumber: number, items: readonly Uint8Array[]): Uint8Array {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30)
    throw new FleetcertError('internal', `unsupported context tag [${tagNumber}]`);
  return derTlv(0xa0 | tagNumber, items);
}

/** A non-negative INTEGER in its minimal form (a 0x00 byte only where the high bit is set). */
export function derInteger(value: bigint | number): Uint8Array {
  const n = BigInt(value);
  if (n < 0n) throw new FleetcertError('internal', 'negative DER integers are not supported');
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return derTlv(DER_TAG.integer, [Buffer.from(hex, 'hex')]);
}

/** An OBJECT IDENTIFIER from its dotted form, e.g. "1.2.840.113549.1.7.2". */
export function derObjectIdentifier(dotted: string): Uint8Array {
  if (!/^[0-2]\.\d+(\.\d+)*$/.test(dotted)) throw new FleetcertError('internal', `"${dotted}" is not an object identifier`);
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [first, second, ...rest] = arcs as [bigint, bigint, ...bigint[]];
  if (first < 2n && second > 39n) throw new FleetcertError('internal', `"${dotted}" is not an object identifier`);
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const base128: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) base128.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...base128);
  }
  return derTlv(DER_TAG.objectIdentifier, [Uint8Array.from(bytes)]);
}
