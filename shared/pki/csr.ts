/**
 * PKCS#10 certificate signing requests: built on the device (@peculiar/x509, loaded only then,
 * not on any hot path), parsed and checked on the server by a lean reader: the fixed PKCS#10 shape walked with
 * the strict DER reader, the key imported once into node:crypto for both the key policy and the
 * signature. Bounded and ordered cheap-first: size, structure, named curve, key policy (so an
 * RSA-16384 key is refused before we spend a verify on it), hash, signature, one CN. Every
 * field is read in the structure step, so a malformed one is `csr_invalid`, never a crash.
 * test/unit/shared/pki/csr-differential.test.ts holds it to the @peculiar parser it replaced.
 */
import { verify, type KeyObject } from 'node:crypto';
import { FleetcertError } from '../errors.js';
import { DerReader, type DerElement } from './der-reader.js';
import { sha256Hex, toDer } from './encoding.js';
import { readAcceptablePublicKey, type PublicKeyDescription } from './key-policy.js';
import { signingAlgorithm, type KeyPair } from './key-pair.js';
import type { x509 } from './x509-provider.js';

export const MAX_CSR_BYTES = 16 * 1024;

export interface CsrParams {
  readonly keys: KeyPair;
  readonly commonName: string;
  readonly dnsNames?: readonly string[];
}

export interface BuiltCsr {
  readonly der: Uint8Array;
  readonly pem: string;
}

/** Loads @peculiar/x509 on first use: an idle agent never builds a CSR and must not carry the library. */
export async function buildCsr(params: CsrParams): Promise<BuiltCsr> {
  const { x509 } = await import('./x509-provider.js');
  const extensions: x509.Extension[] = [];
  if (params.dnsNames && params.dnsNames.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(params.dnsNames.map((value) => ({ type: 'dns' as const, value }))));
  }
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [params.commonName] }],
    keys: { privateKey: params.keys.privateKey, publicKey: params.keys.publicKey },
    signingAlgorithm: signingAlgorithm(params.keys.type),
    extensions,
  });
  return { der: new Uint8Array(csr.rawData), pem: csr.toString('pem') + '\n' };
}

export interface ParsedCsr {
  readonly der: Uint8Array;
  /** The single CN, if the subject has exactly one. */
  readonly commonName: string | undefined;
  /** DER SubjectPublicKeyInfo of the requester's key. */
  readonly publicKeySpki: Uint8Array;
  readonly publicKeyFingerprintSha256: string;
  readonly key: PublicKeyDescription;
  /** OIDs of extensions the requester asked for. Informational: profiles decide. */
  readonly requestedExtensions: readonly string[];
}

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  ecPublicKey: '1.2.840.10045.2.1',
} as const;

/**
 * Signature algorithms a CSR may use, with the key family each needs. SHA-1 is absent on
 * purpose: its collisions are practical, so a SHA-1 signature proves nothing.
 */
export const SIGNATURE_ALGORITHMS: ReadonlyMap<string, { readonly family: 'ec' | 'rsa'; readonly hash: string }> = new Map([
  ['1.2.840.10045.4.3.2', { family: 'ec', hash: 'sha256' }],
  ['1.2.840.10045.4.3.3', { family: 'ec', hash: 'sha384' }],
  ['1.2.840.10045.4.3.4', { family: 'ec', hash: 'sha512' }],
  ['1.2.840.113549.1.1.11', { family: 'rsa', hash: 'sha256' }],
  ['1.2.840.113549.1.1.12', { family: 'rsa', hash: 'sha384' }],
  ['1.2.840.113549.1.1.13', { family: 'rsa', hash: 'sha512' }],
]);

/** What the structure step reads: everything later steps need, nothing decoded twice. */
interface CsrFields {
  readonly info: Uint8Array;
  readonly commonNames: string[];
  readonly publicKeySpki: Uint8Array;
  readonly namedCurve: boolean;
  readonly requestedExtensions: string[];
  readonly signatureOid: string;
  readonly signature: DerElement;
}

/** Parses and verifies a CSR given as DER or PEM. Throws FleetcertError with a precise code. */
export async function parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
  const der = toDer(input, 'csr_invalid', MAX_CSR_BYTES);
  const reader = new DerReader(der, 'csr_invalid');
  const fields = readStructure(reader);
  if (!fields.namedCurve) {
    throw new FleetcertError('csr_invalid', 'the EC key has explicit (or no) curve parameters; a named curve is required');
  }
  const key = readAcceptablePublicKey(fields.publicKeySpki);
  const algorithm = SIGNATURE_ALGORITHMS.get(fields.signatureOid);
  if (algorithm === undefined) {
    throw new FleetcertError('csr_invalid', `the CSR is signed with ${fields.signatureOid}; SHA-256, SHA-384 or SHA-512 is required`);
  }
  verifySignature(reader, fields, algorithm, key.object);
  if (fields.commonNames.length > 1) throw new FleetcertError('csr_invalid', 'the CSR subject has more than one common name');
  return {
    der,
    commonName: fields.commonNames[0],
    publicKeySpki: fields.publicKeySpki,
    publicKeyFingerprintSha256: sha256Hex(fields.publicKeySpki),
    key: key.description,
    requestedExtensions: fields.requestedExtensions,
  };
}

/**
 * CertificationRequest ::= SEQUENCE { info SEQUENCE { version INTEGER, subject Name,
 * subjectPKInfo SubjectPublicKeyInfo, attributes [0] SET OF Attribute }, signatureAlgorithm
 * AlgorithmIdentifier, signature BIT STRING } (RFC 2986).
 */
function readStructure(reader: DerReader): CsrFields {
  const [info, signatureAlgorithm, signature] = reader.expect(reader.root(), 0x30, 'CertificationRequest', 3, 3);
  const [version, subject, spki, attributes] = reader.expect(info, 0x30, 'CertificationRequestInfo', 3, 4);
  reader.smallInteger(version, 'version');
  const [keyAlgorithm, keyBits] = reader.expect(spki, 0x30, 'SubjectPublicKeyInfo', 2, 2);
  const [keyOid, curve] = reader.expect(keyAlgorithm, 0x30, 'key AlgorithmIdentifier', 1, 2);
  const isEc = reader.objectIdentifier(keyOid, 'key algorithm') === OID.ecPublicKey;
  reader.bitStringBytes(keyBits, 'subjectPublicKey'); // a key is whole bytes: unused bits would be dropped from it unseen
  const [signatureOid] = reader.expect(signatureAlgorithm, 0x30, 'signature AlgorithmIdentifier', 1, 2);
  if (signature?.tag !== 0x03) reader.fail('signature: expected a BIT STRING');
  if (signature.end === signature.contentStart || reader.bytes[signature.contentStart]! > 7) reader.fail('signature: malformed BIT STRING');
  return {
    info: reader.encoding(info!),
    commonNames: commonNames(reader, subject),
    publicKeySpki: reader.encoding(spki!),
    namedCurve: !isEc || curve?.tag === 0x06,
    requestedExtensions: attributes === undefined ? [] : requestedExtensions(reader, attributes),
    signatureOid: reader.objectIdentifier(signatureOid, 'signature algorithm'),
    signature,
  };
}

/** Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }: the values of every CN, in order. */
function commonNames(reader: DerReader, subject: DerElement | undefined): string[] {
  const out: string[] = [];
  for (const rdn of reader.expect(subject, 0x30, 'subject')) {
    for (const attribute of reader.expect(rdn, 0x31, 'relative distinguished name')) {
      const [type, value] = reader.expect(attribute, 0x30, 'attribute', 2, 2);
      reader.wellFormed(value!);
      // Every value's string shape is checked (a UniversalString of 7 bytes in O is as malformed as in CN).
      const text = directoryString(reader, value!);
      if (reader.objectIdentifier(type, 'attribute type') === OID.commonName) out.push(text);
    }
  }
  return out;
}

/** A DirectoryString's text (UTF8, Printable, IA5, Teletex, BMP, Universal); any other value as hex, as X.500 writes it. */
function directoryString(reader: DerReader, value: DerElement): string {
  const bytes = Buffer.from(reader.contents(value));
  switch (value.tag) {
    case 0x0c:
      return bytes.toString('utf8');
    case 0x13:
    case 0x16:
    case 0x14:
      return bytes.toString('latin1');
    case 0x1e:
      if (bytes.length % 2 !== 0) reader.fail('BMPString of odd length');
      return bytes.swap16().toString('utf16le');
    case 0x1c: {
      if (bytes.length % 4 !== 0) reader.fail('UniversalString not a multiple of 4 bytes');
      const points = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readUInt32BE(i * 4));
      if (points.some((p) => p > 0x10ffff)) reader.fail('UniversalString out of range');
      return String.fromCodePoint(...points);
    }
    default:
      return Buffer.from(reader.encoding(value)).toString('hex');
  }
}

/**
 * attributes [0] IMPLICIT SET OF SEQUENCE { type OID, values SET OF ANY }; an extensionRequest's
 * value is Extensions ::= SEQUENCE OF SEQUENCE { extnID OID, critical BOOLEAN OPTIONAL, extnValue
 * OCTET STRING }. Only the OIDs are kept: the profile, not the requester, decides extensions.
 */
function requestedExtensions(reader: DerReader, attributes: DerElement): string[] {
  const out: string[] = [];
  for (const attribute of reader.expect(attributes, 0xa0, 'attributes')) {
    const [type, values] = reader.expect(attribute, 0x30, 'attribute', 2, 2);
    const isExtensionRequest = reader.objectIdentifier(type, 'attribute type') === OID.extensionRequest;
    const items = reader.expect(values, 0x31, 'attribute values');
    for (const item of items) reader.wellFormed(item);
    if (!isExtensionRequest) continue;
    for (const item of items) {
      for (const extension of reader.expect(item, 0x30, 'extensionRequest')) {
        const parts = reader.expect(extension, 0x30, 'extension', 2, 3);
        out.push(reader.objectIdentifier(parts[0], 'extension id'));
        const critical = parts.length === 3 ? parts[1]! : undefined;
        if (critical && (critical.tag !== 0x01 || critical.end - critical.contentStart !== 1)) reader.fail('extension: bad critical flag');
        if (parts.at(-1)!.tag !== 0x04) reader.fail('extension: expected an OCTET STRING value');
        const value = reader.elementAt(parts.at(-1)!.contentStart, parts.at(-1)!.end);
        if (value.end !== parts.at(-1)!.end) reader.fail('extension: bytes after its value');
      }
    }
  }
  return out;
}

function verifySignature(reader: DerReader, fields: CsrFields, algorithm: { family: 'ec' | 'rsa'; hash: string }, key: KeyObject): void {
  const bits = reader.contents(fields.signature);
  if (bits.byteLength < 2 || bits[0] !== 0) {
    throw new FleetcertError('csr_signature_invalid', 'the CSR signature is not a whole number of bytes');
  }
  if (key.asymmetricKeyType !== algorithm.family) {
    const family = key.asymmetricKeyType ?? 'unknown';
    throw new FleetcertError('csr_signature_invalid', `the CSR's ${algorithm.family} signature algorithm does not fit its ${family} key`);
  }
  let valid = false;
  try {
    valid = verify(algorithm.hash, fields.info, key, bits.subarray(1));
  } catch (err) {
    throw new FleetcertError('csr_signature_invalid', 'the CSR signature could not be verified', { cause: err });
  }
  if (!valid) throw new FleetcertError('csr_signature_invalid', 'the CSR signature does not match its public key');
}
