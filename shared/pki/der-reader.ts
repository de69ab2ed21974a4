/**
 * A strict, bounded DER reader (X.690): the few structures fleetcert reads on its hot path (a CSR,
 * a SubjectPublicKeyInfo) without a general ASN.1 library. Strict means DER, not BER: one-byte
 * tags, definite lengths in their shortest form, no element running past its parent, nothing
 * after the last one. It never recurses on its own: callers walk a fixed shape, so nesting depth
 * costs nothing. Every failure is a FleetcertError with the caller's code.
 */
import { FleetcertError, type ErrorCode } from '../errors.js';

export interface DerElement {
  readonly tag: number;
  /** Offset of the tag byte: `bytes.subarray(start, end)` is the whole encoding. */
  readonly start: number;
  /** Offset of the first contents byte. */
  readonly contentStart: number;
  /** Offset just past the contents. */
  readonly end: number;
}

export class DerReader {
  constructor(
    readonly bytes: Uint8Array,
    private readonly code: ErrorCode,
  ) {}

  fail(message: string): never {
    throw new FleetcertError(this.code, message);
  }

  /** The one element that spans all the bytes (nothing before, nothing after). */
  root(): DerElement {
    const element = this.elementAt(0, this.bytes.byteLength);
    if (element.end !== this.bytes.byteLength) this.fail(`${this.bytes.byteLength - element.end} bytes after the DER structure`);
    return element;
  }

  /** The element starting at `offset`, which must end by `limit`. */
  elementAt(offset: number, limit: number): DerElement {
    if (offset + 2 > limit) this.fail('truncated DER element');
    const tag = this.bytes[offset]!;
    if ((tag & 0x1f) === 0x1f) this.fail('multi-byte DER tags are not used here');
    let length = this.bytes[offset + 1]!;
    let contentStart = offset + 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0) this.fail('indefinite length is not DER');
      if (count > 3) this.fail('DER length too large');
      if (contentStart + count > limit) this.fail('truncated DER length');
      length = 0;
      for (let i = 0; i < count; i += 1) length = length * 256 + this.bytes[contentStart + i]!;
      if (this.bytes[contentStart] === 0 || length < 0x80) this.fail('DER length not in its shortest form');
      contentStart += count;
    }
    const end = contentStart + length;
    if (end > limit) this.fail('DER element runs past its container');
    if ((tag & 0xc0) === 0) {
      // Universal class: no end-of-contents (BER only); SEQUENCE and SET constructed, everything else primitive (X.690 §10.2).
      const number = tag & 0x1f;
      if (number === 0) this.fail('end-of-contents octets are not DER');
      if ((number === 0x10 || number === 0x11) !== ((tag & 0x20) !== 0)) this.fail(`universal tag 0x${tag.toString(16)} in the wrong form`);
    }
    return { tag, start: offset, contentStart, end };
  }

  /**
   * Checks that an element whose contents the caller does not interpret (a name attribute value,
   * an extension value) is itself well-formed DER all the way down, to a bounded depth: what a
   * schema-driven parser would refuse, refused here too.
   */
  wellFormed(element: DerElement, depth = 0): void {
    if (depth > 16) this.fail('DER nested too deeply');
    if ((element.tag & 0x20) !== 0) for (const child of this.children(element)) this.wellFormed(child, depth + 1);
    else this.primitiveWellFormed(element);
    if (element.tag === 0x04 && element.end > element.contentStart && this.bytes[element.contentStart] === 0x30) {
      // An OCTET STRING that opens a SEQUENCE wraps DER (extension values): it must be exactly one element.
      const inner = this.elementAt(element.contentStart, element.end);
      if (inner.end !== element.end) this.fail('bytes after the wrapped DER value');
      this.wellFormed(inner, depth + 1);
    }
  }

  /** The universal primitives whose contents have rules of their own (X.690 §8.2, §8.3, §8.6, §8.8, §8.19, §11.7-11.8). */
  private primitiveWellFormed(element: DerElement): void {
    const size = element.end - element.contentStart;
    const first = this.bytes[element.contentStart];
    switch (element.tag) {
      case 0x01:
        if (size !== 1 || (first !== 0 && first !== 0xff)) this.fail('BOOLEAN not in DER form');
        break;
      case 0x02:
        if (size === 0) this.fail('empty INTEGER');
        break;
      case 0x03:
        if (size === 0 || first! > 7 || (size === 1 && first !== 0)) this.fail('malformed BIT STRING');
        break;
      case 0x05:
        if (size !== 0) this.fail('NULL with contents');
        break;
      case 0x06:
        this.objectIdentifier(element, 'object identifier');
        break;
      case 0x17: // UTCTime, DER form (X.690 §11.8): YYMMDDHHMMSSZ
      case 0x18: // GeneralizedTime, DER form: YYYYMMDDHHMMSS[.fraction without trailing zeros]Z
        if (!(element.tag === 0x17 ? /^\d{12}Z$/ : /^\d{14}(\.\d*[1-9])?Z$/).test(Buffer.from(this.contents(element)).toString('latin1')))
          this.fail('time not in DER form');
        break;
    }
  }

  /** The elements inside a constructed element, in order (all of its contents, exactly). */
  children(parent: DerElement): DerElement[] {
    if ((parent.tag & 0x20) === 0) this.fail('expected a constructed DER element');
    const out: DerElement[] = [];
    for (let at = parent.contentStart; at < parent.end;) {
      const child = this.elementAt(at, parent.end);
      out.push(child);
      at = child.end;
    }
    return out;
  }

  /** The children of a constructed element with this tag, exactly `min..max` of them. */
  expect(element: DerElement | undefined, tag: number, what: string, min = 0, max = Infinity): DerElement[] {
    if (element?.tag !== tag) this.fail(`${what}: expected tag 0x${tag.toString(16)}`);
    const children = this.children(element);
    if (children.length < min || children.length > max) this.fail(`${what}: ${children.length} elements`);
    return children;
  }

  contents(element: DerElement): Uint8Array {
    return this.bytes.subarray(element.contentStart, element.end);
  }

  encoding(element: DerElement): Uint8Array {
    return this.bytes.subarray(element.start, element.end);
  }

  /** An OBJECT IDENTIFIER in dotted form; minimal base-128 arcs only. */
  objectIdentifier(element: DerElement | undefined, what: string): string {
    if (element?.tag !== 0x06) this.fail(`${what}: expected an object identifier`);
    const bytes = this.contents(element);
    if (bytes.byteLength === 0 || bytes.byteLength > 64) this.fail(`${what}: bad object identifier length`);
    const arcs: number[] = [];
    let value = 0;
    for (let i = 0; i < bytes.byteLength; i += 1) {
      const b = bytes[i]!;
      if (value === 0 && b === 0x80) this.fail(`${what}: object identifier arc not minimal`);
      value = value * 128 + (b & 0x7f);
      if (value > Number.MAX_SAFE_INTEGER / 128) this.fail(`${what}: object identifier arc too large`);
      if ((b & 0x80) === 0) {
        arcs.push(value);
        value = 0;
      } else if (i === bytes.byteLength - 1) {
        this.fail(`${what}: truncated object identifier`);
      }
    }
    const first = arcs[0]!;
    const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
    return [...head, ...arcs.slice(1)].join('.');
  }

  /** The bytes of a BIT STRING with no unused bits (keys, signatures). */
  bitStringBytes(element: DerElement | undefined, what: string): Uint8Array {
    if (element?.tag !== 0x03) this.fail(`${what}: expected a BIT STRING`);
    const contents = this.contents(element);
    if (contents.byteLength === 0 || contents[0] !== 0) this.fail(`${what}: BIT STRING with unused bits`);
    return contents.subarray(1);
  }

  /** A small non-negative INTEGER (versions), or an ENUMERATED (reason codes), which is encoded the same way. */
  smallInteger(element: DerElement | undefined, what: string, tag: 0x02 | 0x0a = 0x02): number {
    if (element?.tag !== tag) this.fail(`${what}: expected ${tag === 0x02 ? 'an INTEGER' : 'an ENUMERATED'}`);
    const contents = this.contents(element);
    if (contents.byteLength === 0 || contents.byteLength > 4) this.fail(`${what}: INTEGER out of range`);
    if (contents.byteLength > 1 && contents[0] === 0 && contents[1]! < 0x80) this.fail(`${what}: INTEGER not minimal`);
    if (contents[0]! & 0x80) this.fail(`${what}: negative INTEGER`);
    return contents.reduce((n, b) => n * 256 + b, 0);
  }
}
