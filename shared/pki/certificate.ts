/**
 * Reading certificates: parse (bounded), describe (the facts an operator and the registry
 * need), and compare with a key. Only the server builds certificates (server/authority/).
 *
 * The X.509 shape is walked with the strict DER reader, not @peculiar/x509: the agent's `run` path
 * reads its live certificate at every start and must not load that library (issue 15: ~12 MiB of a
 * board's memory). Path validation and CRLs, which need it, convert with `toX509` where they run.
 */
import { FleetcertError } from '../errors.js';
import { DerReader, type DerElement } from './der-reader.js';
import { COMMON_NAME_OID, formatName, nameField, readName } from './distinguished-name.js';
import { sha256Hex, toArrayBuffer, toDer, toDerBlocks, toPem } from './encoding.js';
import { exportPublicKeySpki, type KeyPair } from './key-pair.js';

const BASIC_CONSTRAINTS_OID = '2.5.29.19';
const SUBJECT_ALT_NAME_OID = '2.5.29.17';

/** A parsed X.509 certificate: its DER and the facts fleetcert reads from it. */
export class Certificate {
  /** The whole DER, as @peculiar/x509 names it. */
  readonly rawData: ArrayBuffer;
  /** Hex of the serial, lowercase, without the sign byte (as @peculiar/x509 gives it). */
  readonly serialNumber: string;
  /** The names spelled as @peculiar/x509 spells them ("CN=a, O=b"). */
  readonly subject: string;
  readonly issuer: string;
  readonly subjectCommonName: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The SubjectPublicKeyInfo DER. */
  readonly publicKey: { readonly rawData: ArrayBuffer };
  readonly isCa: boolean;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];

  constructor(der: Uint8Array) {
    const r = new DerReader(der, 'certificate_invalid');
    const [tbs, algorithm, signature] = r.expect(r.root(), 0x30, 'certificate', 3, 3);
    r.expect(algorithm, 0x30, 'signature algorithm', 1, 2);
    r.bitStringBytes(signature, 'signature');
    const fields = r.expect(tbs, 0x30, 'tbsCertificate', 6, 10);
    if (fields[0]!.tag === 0xa0) fields.shift();
    const [serial, , issuer, validity, subject, spki, ...optional] = fields;
    if (serial?.tag !== 0x02 || serial.end === serial.contentStart) r.fail('serial: expected an INTEGER');
    r.expect(spki, 0x30, 'subjectPublicKeyInfo', 2, 2);
    const [notBefore, notAfter] = r.expect(validity, 0x30, 'validity', 2, 2);
    const subjectRdns = readName(r, subject!, 'subject');
    this.rawData = toArrayBuffer(der);
    // The library drops the sign byte of a positive serial (00 before a high bit); so do we.
    const serialBytes = r.contents(serial!);
    const signByte = serialBytes.length > 1 && serialBytes[0] === 0 && serialBytes[1]! > 0x7f;
    this.serialNumber = Buffer.from(signByte ? serialBytes.subarray(1) : serialBytes).toString('hex');
    this.subject = formatName(subjectRdns);
    this.issuer = formatName(readName(r, issuer!, 'issuer'));
    this.subjectCommonName = nameField(subjectRdns, COMMON_NAME_OID);
    this.notBefore = readTime(r, notBefore!);
    this.notAfter = readTime(r, notAfter!);
    this.publicKey = { rawData: toArrayBuffer(r.encoding(spki!)) };
    const extensions = readExtensions(
      r,
      optional.find((e) => e.tag === 0xa3),
    );
    this.isCa = isCaExtension(r, extensions.get(BASIC_CONSTRAINTS_OID));
    const names = subjectAltNames(r, extensions.get(SUBJECT_ALT_NAME_OID));
    this.dnsNames = names.dns;
    this.ipAddresses = names.ip;
  }
}

export const MAX_CERTIFICATE_BYTES = 16 * 1024;
export const MAX_BUNDLE_CERTIFICATES = 8;

export function readCertificate(input: string | Uint8Array): Certificate {
  const der = toDer(input, 'certificate_invalid', MAX_CERTIFICATE_BYTES);
  return parseDer(der);
}

/** Every certificate of a PEM bundle (e.g. a chain file: leaf first), bounded in count and size. */
export function readCertificates(pem: string): Certificate[] {
  const blocks = toDerBlocks(pem, 'certificate_invalid', MAX_CERTIFICATE_BYTES);
  if (blocks.length > MAX_BUNDLE_CERTIFICATES)
    throw new FleetcertError('certificate_invalid', `${blocks.length} certificates, more than ${MAX_BUNDLE_CERTIFICATES}`);
  return blocks.map(parseDer);
}

function parseDer(der: Uint8Array): Certificate {
  try {
    return new Certificate(der);
  } catch (err) {
    throw new FleetcertError('certificate_invalid', 'not a DER X.509 certificate', { cause: err });
  }
}

/** UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSS[.f]Z), as RFC 5280 writes them. */
function readTime(r: DerReader, element: DerElement): Date {
  const text = Buffer.from(r.contents(element)).toString('latin1');
  const m =
    element.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : element.tag === 0x18
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(text)
        : null;
  if (!m) r.fail(`validity: not a UTC or generalized time: ${text.slice(0, 20)}`);
  const year = element.tag === 0x17 ? (Number(m[1]) < 50 ? 2000 : 1900) + Number(m[1]) : Number(m[1]);
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms));
}

/** extnID -> extnValue contents (the DER inside the OCTET STRING). */
function readExtensions(r: DerReader, wrapper: DerElement | undefined): Map<string, DerElement> {
  const out = new Map<string, DerElement>();
  if (!wrapper) return out;
  const [list] = r.expect(wrapper, 0xa3, 'extensions', 1, 1);
  for (const extension of r.expect(list, 0x30, 'extensions')) {
    const parts = r.expect(extension, 0x30, 'extension', 2, 3);
    const id = r.objectIdentifier(parts[0], 'extension id');
    const value = parts.at(-1)!;
    if (value.tag !== 0x04) r.fail(`extension ${id}: expected an OCTET STRING`);
    if (out.has(id)) r.fail(`extension ${id} appears twice`);
    out.set(id, value);
  }
  return out;
}

function isCaExtension(r: DerReader, value: DerElement | undefined): boolean {
  if (!value) return false;
  const [first] = r.expect(r.elementAt(value.contentStart, value.end), 0x30, 'basicConstraints', 0, 2);
  return first?.tag === 0x01 && r.bytes[first.contentStart] === 0xff;
}

function subjectAltNames(r: DerReader, value: DerElement | undefined): { dns: string[]; ip: string[] } {
  const names = { dns: [] as string[], ip: [] as string[] };
  if (!value) return names;
  for (const name of r.expect(r.elementAt(value.contentStart, value.end), 0x30, 'subjectAltName', 1)) {
    if (name.tag === 0x82) names.dns.push(Buffer.from(r.contents(name)).toString('latin1'));
    if (name.tag === 0x87) names.ip.push(formatIp(r.contents(name)));
  }
  return names;
}

/** IPv4 dotted, IPv6 with its longest run of zero groups (two or more) as "::", as @peculiar/x509 writes them. */
function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) return Buffer.from(bytes).toString('hex');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  let [best, bestLength, start] = [-1, 0, -1];
  for (let i = 0; i <= 8; i += 1) {
    if (i < 8 && groups[i] === '0') {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start > bestLength) [best, bestLength] = [start, i - start];
      start = -1;
    }
  }
  if (bestLength < 2) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}

export function certificateToPem(cert: Certificate): string {
  return toPem(new Uint8Array(cert.rawData), 'CERTIFICATE');
}

export function certificatesToPem(certs: readonly Certificate[]): string {
  return certs.map(certificateToPem).join('');
}

export interface CertificateInfo {
  readonly subject: string;
  readonly subjectCommonName: string | undefined;
  readonly issuer: string;
  /** Lowercase hex, as in the registry and CRL. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprintSha256: string;
  readonly publicKeyFingerprintSha256: string;
  readonly isCa: boolean;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export function describeCertificate(cert: Certificate): CertificateInfo {
  return {
    subject: cert.subject,
    subjectCommonName: cert.subjectCommonName,
    issuer: cert.issuer,
    serialNumber: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: sha256Hex(new Uint8Array(cert.rawData)),
    publicKeyFingerprintSha256: sha256Hex(new Uint8Array(cert.publicKey.rawData)),
    isCa: cert.isCa,
    dnsNames: cert.dnsNames,
    ipAddresses: cert.ipAddresses,
  };
}

/** Hex serial without leading zero bytes, lowercase: one spelling everywhere. */
export function normalizeSerial(serial: string): string {
  const hex = serial
    .replace(/:/g, '')
    .toLowerCase()
    .replace(/^(00)+(?=.)/, '');
  return hex.length % 2 === 1 ? `0${hex}` : hex;
}

/** True when the certificate certifies this key pair's public key. */
export async function certificateMatchesKey(cert: Certificate, key: KeyPair): Promise<boolean> {
  const spki = await exportPublicKeySpki(key);
  return Buffer.from(cert.publicKey.rawData).equals(Buffer.from(spki));
}
