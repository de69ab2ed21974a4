/**
 * Reading certificate revocation lists: parsed and checked before anything installs one.
 * Mosquitto fails open on a garbage CRL at reload and refuses everyone once nextUpdate has
 * passed, so `parseCrl` is strict. Signing is the server's (server/authority/crl-signer.ts).
 */
import { createPublicKey, verify } from 'node:crypto';
import { FleetcertError } from '../errors.js';
import { normalizeSerial, type Certificate } from './certificate.js';
import { SIGNATURE_ALGORITHMS } from './csr.js';
import { DerReader, type DerElement } from './der-reader.js';
import { formatName, readName } from './distinguished-name.js';
import { toDer, toPem } from './encoding.js';

export const MAX_CRL_BYTES = 4 * 1024 * 1024;

/** The reason codes fleetcert writes (RFC 5280 §5.3.1), by the names the CLI and the registry use. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface CrlInfo {
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: number | undefined;
  readonly entries: readonly { serialNumber: string; revokedAt: Date; reason: number | undefined }[];
  readonly pem: string;
}

/**
 * Parses a CRL and, when the issuer is given, checks its issuer name and verifies its signature.
 * A lean reader (the strict DER reader and node:crypto), as for CSRs: a fleet's CRL holds about
 * one entry per device, and the @peculiar reader it replaces took 1.5 s of blocked event loop for
 * 10,000 entries (test/unit/shared/pki/crl-differential.test.ts holds it to that reader).
 * Strict: a v2 CRL in DER, times in their RFC 5280 forms, one signature algorithm fleetcert's
 * CAs may use, the same one inside and outside the signed part.
 */
export async function parseCrl(input: string | Uint8Array, issuer?: Certificate): Promise<CrlInfo> {
  const der = toDer(input, 'crl_invalid', MAX_CRL_BYTES);
  const reader: DerReader = new CrlReader(der, 'crl_invalid');
  const root = reader.root();
  reader.wellFormed(root);
  const [tbs, outerAlgorithm, signature] = reader.expect(root, 0x30, 'CertificateList', 3, 3);
  const fields = reader.expect(tbs, 0x30, 'TBSCertList', 4);
  if (!outerAlgorithm) reader.fail('CRL without a signature algorithm');
  let at = 0;
  if (fields[at]?.tag === 0x02) {
    if (reader.smallInteger(fields[at], 'CRL version') !== 1) reader.fail('only v2 CRLs are read');
    at += 1;
  }
  const innerAlgorithm = fields[at++];
  const issuerName = fields[at++];
  if (issuerName?.tag !== 0x30) reader.fail('CRL issuer: expected a Name');
  const thisUpdate = readTime(reader, fields[at++], 'thisUpdate');
  const nextUpdate = isTime(fields[at]) ? readTime(reader, fields[at++], 'nextUpdate') : undefined;
  const entries = fields[at]?.tag === 0x30 ? readEntries(reader, fields[at++]!) : [];
  const extensions = fields[at]?.tag === 0xa0 ? readExtensions(reader, reader.expect(fields[at++], 0xa0, 'crlExtensions', 1, 1)[0]) : [];
  if (at !== fields.length) reader.fail('unexpected fields in TBSCertList');
  const algorithmOid = reader.objectIdentifier(reader.expect(outerAlgorithm, 0x30, 'signatureAlgorithm', 1, 2)[0], 'signatureAlgorithm');
  if (innerAlgorithm?.tag !== 0x30 || !Buffer.from(reader.encoding(innerAlgorithm)).equals(reader.encoding(outerAlgorithm))) {
    reader.fail('the signature algorithm inside the CRL differs from the one outside');
  }
  const issuerText = nameText(reader, issuerName);
  if (issuer) {
    if (issuerText !== issuer.subject) throw new FleetcertError('crl_invalid', `CRL issuer "${issuerText}" is not "${issuer.subject}"`);
    const algorithm = SIGNATURE_ALGORITHMS.get(algorithmOid);
    const key = createPublicKey({ key: Buffer.from(issuer.publicKey.rawData), format: 'der', type: 'spki' });
    let valid = false;
    try {
      valid =
        algorithm !== undefined &&
        algorithm.family === key.asymmetricKeyType &&
        verify(algorithm.hash, reader.encoding(tbs!), key, reader.bitStringBytes(signature, 'signature'));
    } catch {
      valid = false;
    }
    if (!valid) throw new FleetcertError('crl_invalid', 'CRL signature does not verify against its issuer');
  }
  const crlNumber = extensions.find((e) => e.oid === OID_CRL_NUMBER);
  return {
    issuer: issuerText,
    thisUpdate,
    nextUpdate,
    crlNumber: crlNumber ? readInteger(reader, crlNumber.value, 'cRLNumber') : undefined,
    entries,
    pem: toPem(der, 'X509 CRL'),
  };
}

/** The issuer in the text form certificates' subjects have here (distinguished-name.ts), so the two compare. */
function nameText(reader: DerReader, name: DerElement): string {
  return formatName(readName(reader, name, 'CRL issuer'));
}

/** The DER reader, its failures saying what was expected. */
class CrlReader extends DerReader {
  override fail(message: string): never {
    throw new FleetcertError('crl_invalid', `not a DER X.509 CRL: ${message}`);
  }
}

const OID_CRL_NUMBER = '2.5.29.20';
const OID_REASON_CODE = '2.5.29.21';

function isTime(element: DerElement | undefined): boolean {
  return element?.tag === 0x17 || element?.tag === 0x18;
}

/** UTCTime YYMMDDHHMMSSZ (1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ: the only forms RFC 5280 §4.1.2.5 allows. */
function readTime(reader: DerReader, element: DerElement | undefined, what: string): Date {
  if (!isTime(element)) reader.fail(`${what}: expected a time`);
  const text = Buffer.from(reader.contents(element!)).toString('latin1');
  const match = (
    element!.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
  ).exec(text);
  if (!match) reader.fail(`${what}: not a DER time`);
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const fullYear = element!.tag === 0x17 ? (year < 50 ? 2000 + year : 1900 + year) : year;
  const date = new Date(Date.UTC(fullYear, month - 1, day, hour, minute, second));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    reader.fail(`${what}: not a calendar time`);
  }
  return date;
}

function readEntries(reader: DerReader, list: DerElement): CrlInfo['entries'] {
  return reader.children(list).map((entry) => {
    const [serial, date, extensions] = reader.expect(entry, 0x30, 'revoked certificate', 2, 3);
    if (serial?.tag !== 0x02) reader.fail('revoked certificate: expected a serial number');
    const reason = extensions ? readExtensions(reader, extensions).find((e) => e.oid === OID_REASON_CODE) : undefined;
    return {
      serialNumber: normalizeSerial(Buffer.from(reader.contents(serial)).toString('hex')),
      revokedAt: readTime(reader, date, 'revocationDate'),
      reason: reason ? reader.smallInteger(reason.value, 'reasonCode', 0x0a) : undefined,
    };
  });
}

function readExtensions(reader: DerReader, list: DerElement | undefined): { oid: string; value: DerElement }[] {
  return reader.expect(list, 0x30, 'extensions').map((extension) => {
    const parts = reader.expect(extension, 0x30, 'extension', 2, 3);
    const value = parts[parts.length - 1];
    if (value?.tag !== 0x04) reader.fail('extension: expected an OCTET STRING value');
    return { oid: reader.objectIdentifier(parts[0], 'extension id'), value: reader.elementAt(value.contentStart, value.end) };
  });
}

function readInteger(reader: DerReader, element: DerElement, what: string): number {
  if (element.tag !== 0x02) reader.fail(`${what}: expected an INTEGER`);
  const bytes = reader.contents(element);
  if (bytes[0]! & 0x80) reader.fail(`${what}: negative`);
  return Number(BigInt(`0x${Buffer.from(bytes).toString('hex')}`));
}
