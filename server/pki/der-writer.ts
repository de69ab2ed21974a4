/**
 * A minimal DER writer (X.690): the few encodings the server assembles from bytes it already
 * has, without an ASN.1 library re-parsing them. Every hand-written DER in fleetcert goes
 * through here, so these encodings are tested once (test/unit/server/pki/der-writer.test.ts).
 */
import { FleetcertError } from '../../shared/errors.js';

export const DER_TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  objectIdentifier: 0x06,
  enumerated: 0x0a,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
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

/** A context-specific primitive tag [n] IMPLICIT over a primitive type (e.g. GeneralName iPAddress [7], keyIdentifier [0]). */
export function derContextPrimitive(tagNumber: number, contents: Uint8Array): Uint8Array {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30)
    throw new FleetcertError('internal', `unsupported context tag [${tagNumber}]`);
  return derTlv(0x80 | tagNumber, [contents]);
}

export const DER_TRUE = Uint8Array.of(DER_TAG.boolean, 1, 0xff);
export const DER_NULL = Uint8Array.of(DER_TAG.null, 0);

export function derOctetString(contents: Uint8Array): Uint8Array {
  return derTlv(DER_TAG.octetString, [contents]);
}

/** A BIT STRING of whole bytes (signatures, keys): no unused bits. */
export function derBitString(bytes: Uint8Array): Uint8Array {
  return derTlv(DER_TAG.bitString, [Uint8Array.of(0), bytes]);
}

/**
 * A BIT STRING of named bits (X.690 §11.2.2): bit n is the n-th bit from the most significant
 * of the first byte, trailing zero bits are dropped and counted in the leading unused-bits byte.
 */
export function derNamedBits(bits: readonly number[]): Uint8Array {
  if (bits.some((b) => !Number.isInteger(b) || b < 0 || b > 63)) throw new FleetcertError('internal', 'named bit out of range');
  if (bits.length === 0) return Uint8Array.of(DER_TAG.bitString, 1, 0);
  const last = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(last / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return derTlv(DER_TAG.bitString, [Uint8Array.of(7 - (last & 7)), bytes]);
}

/**
 * A directory string the way fleetcert's reference issuer writes it: PrintableString when every
 * character is one (X.520), else UTF8String.
 */
export function derDirectoryString(text: string): Uint8Array {
  const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text);
  return derTlv(printable ? DER_TAG.printableString : DER_TAG.utf8String, [Buffer.from(text, 'utf8')]);
}

/** An IA5String, or with `contextTag` an [n] IMPLICIT IA5String (GeneralName dNSName is [2]). */
export function derIa5String(text: string, contextTag?: number): Uint8Array {
  if (!/^\p{ASCII}*$/u.test(text)) throw new FleetcertError('internal', 'IA5String holds ASCII only');
  const contents = Buffer.from(text, 'latin1');
  return contextTag === undefined ? derTlv(DER_TAG.ia5String, [contents]) : derContextPrimitive(contextTag, contents);
}

/**
 * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime YYMMDDHHMMSSZ through 2049, GeneralizedTime
 * YYYYMMDDHHMMSSZ from 2050; whole seconds only (DER has no fractional zero).
 */
export function derTime(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms % 1000 !== 0) throw new FleetcertError('internal', 'X.509 times are whole seconds');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new FleetcertError('internal', `year ${year} cannot be encoded as an X.509 time`);
  const two = (n: number) => String(n).padStart(2, '0');
  const fields = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
  const rest = `${fields.map(two).join('')}Z`;
  if (year <= 2049) return derTlv(DER_TAG.utcTime, [Buffer.from(`${two(year % 100)}${rest}`, 'latin1')]);
  return derTlv(DER_TAG.generalizedTime, [Buffer.from(`${year}${rest}`, 'latin1')]);
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

/** An ENUMERATED (e.g. a CRL entry's reason code): a small non-negative value, encoded as an INTEGER is. */
export function derEnumerated(value: number): Uint8Array {
  const integer = derInteger(value);
  return Uint8Array.of(DER_TAG.enumerated, ...integer.subarray(1));
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
