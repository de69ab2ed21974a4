/**
 * The @peculiar/x509 CSR parser fleetcert used before issue 15, kept only as the reference the
 * lean parser (shared/pki/csr.ts) is compared with (test/unit/shared/pki/csr-differential.test.ts).
 * Same checks in the same order: structure, named curve, key policy, hash, signature, one CN.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { FleetcertError } from '#shared/errors.js';
import { sha256Hex, toDer } from '#shared/pki/encoding.js';
import { readAcceptablePublicKey } from '#shared/pki/key-policy.js';
import { MAX_CSR_BYTES, type ParsedCsr } from '#shared/pki/csr.js';
import { x509 } from '#shared/pki/x509-provider.js';

export async function referenceParseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
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
  const key = readAcceptablePublicKey(publicKeySpki).description;
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
