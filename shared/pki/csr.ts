/**
 * PKCS#10 certificate signing requests: built on the device, parsed and checked on the
 * server. Parsing is bounded and ordered cheap-first: size, structure, key policy (so an
 * RSA-16384 key is refused before we spend a verify on it), then the signature.
 *
 * Everything the ASN.1 library parses lazily (subject, key, attributes, signature algorithm) is
 * read inside the structure step: a field that only fails when first touched is still
 * `csr_invalid`, never an unexpected error.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { FleetcertError } from '../errors.js';
import { sha256Hex, toDer } from './encoding.js';
import { checkPublicKey, type PublicKeyDescription } from './key-policy.js';
import { signingAlgorithm, type KeyPair } from './key-pair.js';
import { x509 } from './x509-provider.js';

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

export async function buildCsr(params: CsrParams): Promise<BuiltCsr> {
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
  readonly subject: string;
  /** The single CN, if the subject has exactly one. */
  readonly commonName: string | undefined;
  /** DER SubjectPublicKeyInfo of the requester's key. */
  readonly publicKeySpki: Uint8Array;
  readonly publicKeyFingerprintSha256: string;
  readonly key: PublicKeyDescription;
  /** OIDs of extensions the requester asked for. Informational: profiles decide. */
  readonly requestedExtensions: readonly string[];
}

/** Parses and verifies a CSR given as DER or PEM. Throws FleetcertError with a precise code. */
export async function parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
  const der = toDer(input, 'csr_invalid', MAX_CSR_BYTES);
  let csr: x509.Pkcs10CertificateRequest;
  let fields: { subject: string; cns: string[]; publicKeySpki: Uint8Array; requestedExtensions: string[]; hash: string | undefined };
  try {
    csr = new x509.Pkcs10CertificateRequest(der.slice());
    fields = {
      subject: csr.subject,
      cns: csr.subjectName.getField('CN'),
      publicKeySpki: new Uint8Array(csr.publicKey.rawData),
      requestedExtensions: csr.extensions.map((e) => e.type),
      hash: (csr.signatureAlgorithm as { hash?: { name?: string } }).hash?.name,
    };
  } catch (err) {
    throw new FleetcertError('csr_invalid', 'not a DER PKCS#10 certification request', { cause: err });
  }
  const { publicKeySpki, cns } = fields;
  requireNamedCurve(publicKeySpki);
  const key = checkPublicKey(publicKeySpki);
  if (fields.hash === undefined || !SIGNATURE_HASHES.has(fields.hash)) {
    throw new FleetcertError(
      'csr_invalid',
      `the CSR is signed with ${fields.hash ?? 'an unknown algorithm'}; SHA-256, SHA-384 or SHA-512 is required`,
    );
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new FleetcertError('csr_signature_invalid', 'the CSR signature could not be verified', { cause: err });
  }
  if (!valid) throw new FleetcertError('csr_signature_invalid', 'the CSR signature does not match its public key');
  if (cns.length > 1) throw new FleetcertError('csr_invalid', 'the CSR subject has more than one common name');
  return {
    der,
    subject: fields.subject,
    commonName: cns[0],
    publicKeySpki,
    publicKeyFingerprintSha256: sha256Hex(publicKeySpki),
    key,
    requestedExtensions: fields.requestedExtensions,
  };
}

/** Hashes a CSR signature may use: SHA-1 collisions are practical, so a SHA-1 signature proves nothing. */
const SIGNATURE_HASHES: ReadonlySet<string> = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

const ID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';

/** RFC 5480: an EC key names its curve. Explicit parameters (any curve, in the request) are refused. */
function requireNamedCurve(spki: Uint8Array): void {
  let info: SubjectPublicKeyInfo;
  try {
    info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  } catch (err) {
    throw new FleetcertError('csr_invalid', 'the public key is not a valid SubjectPublicKeyInfo', { cause: err });
  }
  if (info.algorithm.algorithm !== ID_EC_PUBLIC_KEY) return;
  const parameters = info.algorithm.parameters ? new Uint8Array(info.algorithm.parameters) : undefined;
  const OBJECT_IDENTIFIER = 0x06;
  if (parameters?.[0] !== OBJECT_IDENTIFIER) {
    throw new FleetcertError('csr_invalid', 'the EC key has explicit (or no) curve parameters; a named curve is required');
  }
}
