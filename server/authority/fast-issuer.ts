/**
 * The issuer for the hot path: the same profile rules as the reference (`planCertificate`), the
 * certificate assembled directly as DER with `server/pki/der-writer.ts` and signed with
 * node:crypto. Everything that does not change between certificates (the CA key as a KeyObject,
 * the issuer name, the signature algorithm, the AKI) is prepared once in the constructor, so an
 * issuance is one SHA-1 (SKI), a few small buffers and one signature.
 *
 * It must stay byte-identical to `PeculiarIssuer` in everything but the signature value
 * (test/unit/server/authority/fast-issuer-differential.test.ts) and pass the conformance suite.
 */
import { createHash, KeyObject, randomBytes as nodeRandomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import { FleetcertError } from '../../shared/errors.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import { DerReader } from '../../shared/pki/der-reader.js';
import type { KeyType } from '../../shared/pki/key-pair.js';
import {
  DER_NULL,
  DER_TRUE,
  derBitString,
  derContext,
  derContextPrimitive,
  derDirectoryString,
  derIa5String,
  derInteger,
  derNamedBits,
  derObjectIdentifier,
  derOctetString,
  derSequence,
  derSet,
  derTime,
} from '../pki/der-writer.js';
import type { CaSigner, CertificateIssuer, IssuedCertificate, IssueRequest } from './certificate-issuer.js';
import { subjectKeyId as caKeyId } from './peculiar-issuer.js';
import {
  planCertificate,
  type CertificatePlan,
  type ExtendedKeyUsage,
  type KeyUsage,
  type PublicKeyFamily,
} from './certificate-profiles.js';

export interface FastIssuerOptions {
  /** Randomness for serial numbers (default: node:crypto). */
  readonly randomBytes?: (size: number) => Uint8Array;
}

const OID = {
  commonName: derObjectIdentifier('2.5.4.3'),
  organization: derObjectIdentifier('2.5.4.10'),
  basicConstraints: derObjectIdentifier('2.5.29.19'),
  keyUsage: derObjectIdentifier('2.5.29.15'),
  extendedKeyUsage: derObjectIdentifier('2.5.29.37'),
  subjectAltName: derObjectIdentifier('2.5.29.17'),
  subjectKeyIdentifier: derObjectIdentifier('2.5.29.14'),
  authorityKeyIdentifier: derObjectIdentifier('2.5.29.35'),
  crlDistributionPoints: derObjectIdentifier('2.5.29.31'),
} as const;

const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';

/** RFC 5280 §4.2.1.3 bit numbers. */
const KEY_USAGE_BITS: Record<KeyUsage, number> = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };
const EKU_OIDS: Record<ExtendedKeyUsage, Uint8Array> = {
  serverAuth: derObjectIdentifier('1.3.6.1.5.5.7.3.1'),
  clientAuth: derObjectIdentifier('1.3.6.1.5.5.7.3.2'),
};

/** How the CA signs: the node:crypto digest and the AlgorithmIdentifier it is announced with. */
export const SIGNATURE: Record<KeyType, { readonly hash: string; readonly algorithm: Uint8Array }> = {
  'ec-p256': { hash: 'sha256', algorithm: derSequence([derObjectIdentifier('1.2.840.10045.4.3.2')]) },
  'ec-p384': { hash: 'sha384', algorithm: derSequence([derObjectIdentifier('1.2.840.10045.4.3.3')]) },
  'rsa-2048': { hash: 'sha256', algorithm: derSequence([derObjectIdentifier('1.2.840.113549.1.1.11'), DER_NULL]) },
  'rsa-3072': { hash: 'sha256', algorithm: derSequence([derObjectIdentifier('1.2.840.113549.1.1.11'), DER_NULL]) },
};

const VERSION_3 = derContext(0, [derInteger(2)]);

export class FastIssuer implements CertificateIssuer {
  readonly certificate: Certificate;
  private readonly randomBytes: (size: number) => Uint8Array;
  private readonly signingKey: KeyObject;
  private readonly hash: string;
  private readonly signatureAlgorithm: Uint8Array;
  private readonly issuerName: Uint8Array;
  private readonly issuerNotAfter: Date;
  /** The AKI extension is the same in every certificate: the CA's SKI. */
  private readonly authorityKeyIdentifier: Uint8Array;

  constructor(ca: CaSigner, options: FastIssuerOptions = {}) {
    this.certificate = ca.certificate;
    this.randomBytes = options.randomBytes ?? nodeRandomBytes;
    this.signingKey = KeyObject.from(ca.keys.privateKey);
    ({ hash: this.hash, algorithm: this.signatureAlgorithm } = SIGNATURE[ca.keys.type]);
    this.issuerName = subjectNameBytes(new Uint8Array(ca.certificate.rawData));
    this.issuerNotAfter = ca.certificate.notAfter;
    const keyId = Buffer.from(caKeyId(ca.certificate), 'hex');
    this.authorityKeyIdentifier = extension(OID.authorityKeyIdentifier, false, derSequence([derContextPrimitive(0, keyId)]));
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const key = readSpki(request.publicKeySpki);
    const plan = planCertificate(request, { keyFamily: key.family, issuerNotAfter: this.issuerNotAfter, randomBytes: this.randomBytes });
    const tbs = derSequence([
      VERSION_3,
      derInteger(BigInt(`0x${plan.serial}`)),
      this.signatureAlgorithm,
      this.issuerName,
      derSequence([derTime(plan.notBefore), derTime(plan.notAfter)]),
      subjectName(plan),
      request.publicKeySpki,
      derContext(3, [derSequence(this.extensions(plan, key.subjectKeyId))]),
    ]);
    const signature = sign(this.hash, tbs, this.signingKey);
    const der = derSequence([tbs, this.signatureAlgorithm, derBitString(signature)]);
    return { der, serial: plan.serial, notBefore: plan.notBefore, notAfter: plan.notAfter };
  }

  /** Basic constraints, key usage, EKU, SAN, SKI, AKI, CDP: the order and criticality of certificate-profiles.ts. */
  private extensions(plan: CertificatePlan, subjectKeyId: Uint8Array): Uint8Array[] {
    const rules = plan.extensions;
    const { ca, pathLength } = rules.basicConstraints;
    const basic = [...(ca ? [DER_TRUE] : []), ...(pathLength === undefined ? [] : [derInteger(pathLength)])];
    const out = [
      extension(OID.basicConstraints, true, derSequence(basic)),
      extension(OID.keyUsage, true, derNamedBits(rules.keyUsage.map((u) => KEY_USAGE_BITS[u]))),
    ];
    if (rules.extendedKeyUsage)
      out.push(extension(OID.extendedKeyUsage, false, derSequence(rules.extendedKeyUsage.map((u) => EKU_OIDS[u]))));
    if (rules.subjectAltName) {
      const { dnsNames, ipAddresses } = rules.subjectAltName;
      const names = [...dnsNames.map((name) => derIa5String(name, 2)), ...ipAddresses.map(ipName)];
      out.push(extension(OID.subjectAltName, false, derSequence(names)));
    }
    out.push(extension(OID.subjectKeyIdentifier, false, derOctetString(subjectKeyId)));
    if (rules.authorityKeyIdentifier) out.push(this.authorityKeyIdentifier);
    if (rules.crlDistributionPoint !== undefined) {
      // SEQUENCE OF DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
      const fullName = derContext(0, [derContext(0, [derIa5String(rules.crlDistributionPoint, 6)])]);
      out.push(extension(OID.crlDistributionPoints, false, derSequence([derSequence([fullName])])));
    }
    return out;
  }
}

/**
 * The CA's subject exactly as its certificate encodes it: the issuer field of what it signs must
 * match it byte for byte (RFC 5280 §7.1 name chaining), so it is copied, never re-encoded.
 */
export function subjectNameBytes(caDer: Uint8Array): Uint8Array {
  const reader = new DerReader(caDer, 'internal');
  const [tbs] = reader.expect(reader.root(), 0x30, 'CA certificate', 3, 3);
  const fields = reader.expect(tbs, 0x30, 'CA TBSCertificate', 6);
  const subject = fields[fields[0]!.tag === 0xa0 ? 5 : 4]; // after [0] version (if any), serial, signature, issuer, validity
  if (subject?.tag !== 0x30) return reader.fail('CA certificate without a subject name');
  return reader.encoding(subject).slice();
}

export function extension(oid: Uint8Array, critical: boolean, value: Uint8Array): Uint8Array {
  return derSequence(critical ? [oid, DER_TRUE, derOctetString(value)] : [oid, derOctetString(value)]);
}

/** CN, then O when present; one attribute per RDN, as the reference issuer writes it. */
function subjectName(plan: CertificatePlan): Uint8Array {
  const rdn = (oid: Uint8Array, value: string) => derSet([derSequence([oid, derDirectoryString(value)])]);
  const rdns = [rdn(OID.commonName, plan.subject.commonName)];
  if (plan.subject.organization) rdns.push(rdn(OID.organization, plan.subject.organization));
  return derSequence(rdns);
}

/** iPAddress [7]: 4 or 16 bytes in network order. */
function ipName(ip: string): Uint8Array {
  if (isIP(ip) === 4) return derContextPrimitive(7, Uint8Array.from(ip.split('.').map(Number)));
  const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = groups(tail);
  const words = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    const v = parseInt(w, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  return derContextPrimitive(7, bytes);
}

/**
 * The key family and SKI (RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits) from the
 * SPKI DER. The key itself was checked by the caller (the CSR's key policy); this only refuses
 * bytes that are not an SPKI at all.
 */
function readSpki(spki: Uint8Array): { family: PublicKeyFamily; subjectKeyId: Uint8Array } {
  const reader = new DerReader(spki, 'internal');
  try {
    const [algorithm, bits] = reader.expect(reader.root(), 0x30, 'SubjectPublicKeyInfo', 2, 2);
    const oid = reader.objectIdentifier(reader.expect(algorithm, 0x30, 'AlgorithmIdentifier', 1, 2)[0], 'key algorithm');
    if (oid !== RSA_ENCRYPTION && oid !== EC_PUBLIC_KEY) reader.fail(`key algorithm ${oid} is not certified`);
    const subjectKeyId = createHash('sha1').update(reader.bitStringBytes(bits, 'subjectPublicKey')).digest();
    return { family: oid === RSA_ENCRYPTION ? 'rsa' : 'ec', subjectKeyId };
  } catch (err) {
    throw new FleetcertError('internal', 'the key to certify is not a DER SubjectPublicKeyInfo', { cause: err });
  }
}
