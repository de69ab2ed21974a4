/**
 * An X.501 Name (DER) as text, spelled exactly as @peculiar/x509's `Name.toString()` spells it
 * ("CN=a, O=b", RDNs in certificate order, multi-valued RDNs joined with "+", its escaping), so a
 * name read here compares equal to one read by the library (a CRL's issuer against its CA's
 * subject). Only the attribute values' string types are decoded; anything else is "#" and the hex of
 * its DER, as the library does. `test/unit/shared/pki/certificate.test.ts` checks the two agree.
 */
import type { DerElement, DerReader } from './der-reader.js';

/** The short names the library knows; other attribute types are written as their OID. */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'E',
  '2.5.4.42': 'G',
  '2.5.4.43': 'I',
  '2.5.4.4': 'SN',
  '2.5.4.12': 'T',
};

export const COMMON_NAME_OID = '2.5.4.3';

export interface NameAttribute {
  readonly type: string;
  /** The decoded string, or undefined when the value is not one of the string types. */
  readonly text: string | undefined;
  readonly der: Uint8Array;
}

/** The RDNs of a Name, each a list of its attributes, in DER order. */
export function readName(reader: DerReader, name: DerElement, what: string): NameAttribute[][] {
  return reader.expect(name, 0x30, what).map((rdn) =>
    reader.expect(rdn, 0x31, `${what} RDN`, 1).map((attribute) => {
      const [type, value] = reader.expect(attribute, 0x30, `${what} attribute`, 2, 2);
      reader.wellFormed(value!);
      return {
        type: reader.objectIdentifier(type, `${what} attribute type`),
        text: decodeString(reader, value!),
        der: reader.encoding(value!),
      };
    }),
  );
}

export function formatName(rdns: readonly (readonly NameAttribute[])[]): string {
  return rdns
    .map((rdn) =>
      rdn
        .map(
          (a) =>
            `${SHORT_NAMES[a.type] ?? a.type}=${a.text === undefined ? `#${Buffer.from(a.der).toString('hex')}` : escapeValue(a.text)}`,
        )
        .join('+'),
    )
    .join(', ');
}

/** The first value of an attribute type (unescaped), e.g. the CN. */
export function nameField(rdns: readonly (readonly NameAttribute[])[], type: string): string | undefined {
  for (const rdn of rdns) for (const a of rdn) if (a.type === type) return a.text ?? Buffer.from(a.der).toString('hex');
  return undefined;
}

/** The library's escaping, quirks included (only the first CR, LF or TAB is escaped). */
function escapeValue(value: string): string {
  return value
    .replace(/([,+"\\<>;])/g, '\\$1')
    .replace(/^([ #])/, '\\$1')
    .replace(/([ ]$)/, '\\$1')
    .replace(/([\r\n\t])/, (c) => `\\${Buffer.from(c, 'utf8').toString('hex').toUpperCase()}`);
}

function decodeString(reader: DerReader, value: DerElement): string | undefined {
  const bytes = Buffer.from(reader.contents(value));
  switch (value.tag) {
    case 0x0c: // UTF8String
      return bytes.toString('utf8');
    case 0x13: // PrintableString
    case 0x14: // TeletexString
    case 0x16: // IA5String
      return bytes.toString('latin1');
    case 0x1e: // BMPString: UTF-16BE
      return bytes.length % 2 === 0 ? Buffer.from(bytes).swap16().toString('utf16le') : undefined;
    case 0x1c: // UniversalString: UTF-32BE, of which asn1js keeps the low 16 bits of each character
      return bytes.length % 4 === 0
        ? String.fromCharCode(...Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readUInt16BE(i * 4 + 2)))
        : undefined;
    default:
      return undefined;
  }
}
