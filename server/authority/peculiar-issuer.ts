/**
 * Today's issuer: @peculiar/x509 with Node's WebCrypto. It applies the profile rules of
 * `certificate-profiles.ts` and nothing else; the CA key is imported once (by whoever builds
 * the `CaSigner`) and reused for every signature. The certified key goes in as SPKI DER and is
 * never imported into WebCrypto: the library only needs its bytes.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { FleetcertError } from '../../shared/errors.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import { exportPublicKeySpki, signingAlgorithm, type KeyPair } from '../../shared/pki/key-pair.js';
import { toX509, x509 } from '../../shared/pki/x509-provider.js';
import type { CaSigner, CertificateIssuer, IssuedCertificate, IssueRequest } from './certificate-issuer.js';
import { planCertificate, type CertificatePlan, type KeyUsage, type ProfileRequest } from './certificate-profiles.js';

export interface PeculiarIssuerOptions {
  /** Randomness for serial numbers (default: node:crypto). */
  readonly randomBytes?: (size: number) => Uint8Array;
}

export class PeculiarIssuer implements CertificateIssuer {
  readonly certificate: Certificate;
  private readonly randomBytes: (size: number) => Uint8Array;
  /** The CA's SKI, every certificate's AKI: read once, and a CA without one fails at load, not per request. */
  private readonly issuerKeyId: string;

  constructor(
    private readonly ca: CaSigner,
    options: PeculiarIssuerOptions = {},
  ) {
    this.certificate = ca.certificate;
    this.randomBytes = options.randomBytes ?? nodeRandomBytes;
    this.issuerKeyId = subjectKeyId(ca.certificate);
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const publicKey = readSpki(request.publicKeySpki);
    const plan = planCertificate(request, {
      keyFamily: keyFamily(publicKey),
      issuerNotAfter: this.certificate.notAfter,
      randomBytes: this.randomBytes,
    });
    return sign(plan, publicKey, toX509(this.certificate).subjectName, this.ca.keys, this.issuerKeyId);
  }
}

/** Hex SKI of a CA certificate; a CA without one cannot give its certificates an AKI. */
export function subjectKeyId(ca: Certificate): string {
  const ski = toX509(ca).getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new FleetcertError('internal', `CA ${ca.subject} has no subject key identifier`);
  return ski.keyId;
}

/** The one certificate no issuer signs: a root, self-signed with its own key. */
export async function issueRootCertificate(
  keys: KeyPair,
  request: Omit<ProfileRequest, 'profile'>,
  randomBytes: (size: number) => Uint8Array = nodeRandomBytes,
): Promise<IssuedCertificate> {
  const publicKey = readSpki(await exportPublicKeySpki(keys));
  const plan = planCertificate(
    { ...request, profile: 'root-ca' },
    { keyFamily: keyFamily(publicKey), issuerNotAfter: undefined, randomBytes },
  );
  return sign(plan, publicKey, undefined, keys, undefined);
}

async function sign(
  plan: CertificatePlan,
  publicKey: x509.PublicKey,
  issuerName: x509.Name | undefined,
  signingKeys: KeyPair,
  issuerKeyId: string | undefined,
): Promise<IssuedCertificate> {
  const subject = subjectName(plan);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: plan.serial,
    subject,
    issuer: issuerName ?? subject,
    notBefore: plan.notBefore,
    notAfter: plan.notAfter,
    publicKey,
    signingKey: signingKeys.privateKey,
    signingAlgorithm: signingAlgorithm(signingKeys.type),
    extensions: await extensions(plan, publicKey, issuerKeyId),
  });
  return { der: new Uint8Array(certificate.rawData), serial: plan.serial, notBefore: plan.notBefore, notAfter: plan.notAfter };
}

function readSpki(spki: Uint8Array): x509.PublicKey {
  try {
    return new x509.PublicKey(spki.slice());
  } catch (err) {
    throw new FleetcertError('internal', 'the key to certify is not a DER SubjectPublicKeyInfo', { cause: err });
  }
}

function keyFamily(publicKey: x509.PublicKey): 'ec' | 'rsa' {
  return publicKey.algorithm.name.startsWith('RSA') ? 'rsa' : 'ec';
}

function subjectName(plan: CertificatePlan): x509.JsonName {
  // JSON names, not DN strings: a CN containing ',' or '=' cannot inject extra attributes.
  const name: x509.JsonName = [{ CN: [plan.subject.commonName] }];
  if (plan.subject.organization) name.push({ O: [plan.subject.organization] });
  return name;
}

const KEY_USAGE_FLAGS: Record<KeyUsage, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
};

async function extensions(plan: CertificatePlan, publicKey: x509.PublicKey, issuerKeyId: string | undefined): Promise<x509.Extension[]> {
  const rules = plan.extensions;
  const out: x509.Extension[] = [new x509.BasicConstraintsExtension(rules.basicConstraints.ca, rules.basicConstraints.pathLength, true)];
  out.push(
    new x509.KeyUsagesExtension(
      // oxlint-disable-next-line typescript/no-unsafe-enum-assignment -- KeyUsageFlags are bit flags: their OR is the API's input
      rules.keyUsage.reduce((flags, usage) => flags | KEY_USAGE_FLAGS[usage], 0),
      true,
    ),
  );
  if (rules.extendedKeyUsage)
    out.push(
      new x509.ExtendedKeyUsageExtension(
        rules.extendedKeyUsage.map((u) => x509.ExtendedKeyUsage[u]),
        false,
      ),
    );
  if (rules.subjectAltName) {
    const { dnsNames, ipAddresses } = rules.subjectAltName;
    const names: x509.JsonGeneralNames = [
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ];
    out.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  out.push(await x509.SubjectKeyIdentifierExtension.create(publicKey));
  if (rules.authorityKeyIdentifier) {
    if (issuerKeyId === undefined) throw new FleetcertError('internal', "an authority key identifier needs the issuer's key id");
    out.push(new x509.AuthorityKeyIdentifierExtension(issuerKeyId));
  }
  if (rules.crlDistributionPoint !== undefined) out.push(new x509.CRLDistributionPointsExtension([rules.crlDistributionPoint], false));
  return out;
}
