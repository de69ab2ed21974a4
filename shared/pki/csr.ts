/**
 * PKCS#10 certificate signing requests: built on the device, parsed and checked on the
 * server. Parsing is bounded and ordered cheap-first: size, structure, key policy (so an
 * RSA-16384 key is refused before we spend a verify on it), then the signature.
 */
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
  try {
    csr = new x509.Pkcs10CertificateRequest(der.slice());
  } catch (err) {
    throw new FleetcertError('csr_invalid', 'not a DER PKCS#10 certification request', { cause: err });
  }
  const publicKeySpki = new Uint8Array(csr.publicKey.rawData);
  const key = checkPublicKey(publicKeySpki);
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new FleetcertError('csr_signature_invalid', 'the CSR signature could not be verified', { cause: err });
  }
  if (!valid) throw new FleetcertError('csr_signature_invalid', 'the CSR signature does not match its public key');
  const cns = csr.subjectName.getField('CN');
  if (cns.length > 1) throw new FleetcertError('csr_invalid', 'the CSR subject has more than one common name');
  return {
    der,
    subject: csr.subject,
    commonName: cns[0],
    publicKeySpki,
    publicKeyFingerprintSha256: sha256Hex(publicKeySpki),
    key,
    requestedExtensions: csr.extensions.map((e) => e.type),
  };
}
