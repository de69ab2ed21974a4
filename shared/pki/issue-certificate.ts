/**
 * Issuing certificates by profile. The profile alone decides the extensions: nothing a
 * requester asks for (a CSR's extension request, say) reaches this module. Every
 * certificate fleetcert signs is built here, so this is the one place to make fast.
 *
 * Profiles:
 * - root-ca:         CA:true (critical), keyCertSign+cRLSign (critical), SKI
 * - intermediate-ca: CA:true pathlen:0 (critical), keyCertSign+cRLSign (critical), SKI, AKI
 * - tls-server:      CA:false (critical), digitalSignature[+keyEncipherment for RSA] (critical),
 *                    serverAuth, SAN (DNS + IP), SKI, AKI
 * - device-client:   CA:false (critical), digitalSignature (critical), clientAuth, SKI, AKI
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { FleetcertError } from '../errors.js';
import type { Certificate, Signer } from './certificate.js';
import { signingAlgorithm, type KeyPair } from './key-pair.js';
import { x509, type CryptoKey } from './x509-provider.js';

export const CERTIFICATE_PROFILES = ['root-ca', 'intermediate-ca', 'tls-server', 'device-client'] as const;
export type CertificateProfile = (typeof CERTIFICATE_PROFILES)[number];

export const DEFAULT_BACKDATE_SECONDS = 5 * 60;
const SERIAL_BYTES = 16;

export interface SubjectName {
  readonly commonName: string;
  readonly organization?: string;
}

export interface IssueParams {
  readonly profile: CertificateProfile;
  readonly subject: SubjectName;
  /** The key being certified. For a root, the signer's own public key. */
  readonly publicKey: CryptoKey;
  /**
   * Who signs. A root is self-signed: pass `{ keys }` without a certificate.
   */
  readonly signer: Signer | { readonly keys: KeyPair; readonly certificate?: undefined };
  readonly now: Date;
  readonly lifetimeSeconds: number;
  /** How far notBefore is set before `now`, for devices whose clock lags (default 300 s). */
  readonly backdateSeconds?: number;
  /** tls-server only: DNS names and IP addresses for the SAN. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Injected randomness for the serial number (default: node:crypto). */
  readonly randomBytes?: (size: number) => Uint8Array;
}

export async function issueCertificate(params: IssueParams): Promise<Certificate> {
  const { profile, signer } = params;
  // X.509 times have one-second resolution: compute from a whole second so the certificate
  // says exactly what was asked (notBefore = now - backdate, notAfter = now + lifetime).
  const now = new Date(Math.floor(params.now.getTime() / 1000) * 1000);
  if (!(params.lifetimeSeconds > 0)) {
    throw new FleetcertError('internal', `certificate lifetime must be positive, got ${params.lifetimeSeconds}`);
  }
  const selfSigned = signer.certificate === undefined;
  if (selfSigned !== (profile === 'root-ca')) {
    throw new FleetcertError('internal', `profile ${profile} ${selfSigned ? 'needs an issuing CA' : 'must be self-signed'}`);
  }
  const backdate = params.backdateSeconds ?? DEFAULT_BACKDATE_SECONDS;
  const notBefore = new Date(now.getTime() - backdate * 1000);
  let notAfter = new Date(now.getTime() + params.lifetimeSeconds * 1000);
  // A certificate never outlives its issuer: clients would reject the chain before it expires.
  if (signer.certificate && notAfter > signer.certificate.notAfter) notAfter = signer.certificate.notAfter;

  const subject = buildName(params.subject);
  const extensions = await profileExtensions(params);
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(params.randomBytes ?? nodeRandomBytes),
    subject,
    issuer: signer.certificate ? signer.certificate.subjectName : subject,
    notBefore,
    notAfter,
    publicKey: params.publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(signer.keys.type),
    extensions,
  });
}

/** 16 random bytes as a positive DER INTEGER with no leading zero byte. */
export function randomSerial(randomBytes: (size: number) => Uint8Array): string {
  const bytes = Uint8Array.from(randomBytes(SERIAL_BYTES));
  if (bytes.length !== SERIAL_BYTES) throw new FleetcertError('internal', 'random source returned the wrong length');
  bytes[0] = (bytes[0]! % 0x7f) + 1; // 0x01..0x7f: positive and minimal
  return Buffer.from(bytes).toString('hex');
}

function buildName(subject: SubjectName): x509.JsonName {
  // JSON names, not DN strings: a CN containing ',' or '=' cannot inject extra attributes.
  const name: x509.JsonName = [{ CN: [subject.commonName] }];
  if (subject.organization) name.push({ O: [subject.organization] });
  return name;
}

async function profileExtensions(params: IssueParams): Promise<x509.Extension[]> {
  const { profile, signer } = params;
  const ski = await x509.SubjectKeyIdentifierExtension.create(params.publicKey);
  const extensions: x509.Extension[] = [];
  const aki = signer.certificate ? authorityKeyIdentifier(signer.certificate) : undefined;
  const usage = x509.KeyUsageFlags;
  switch (profile) {
    case 'root-ca':
      extensions.push(new x509.BasicConstraintsExtension(true, undefined, true));
      extensions.push(new x509.KeyUsagesExtension(usage.keyCertSign | usage.cRLSign, true));
      break;
    case 'intermediate-ca':
      extensions.push(new x509.BasicConstraintsExtension(true, 0, true));
      extensions.push(new x509.KeyUsagesExtension(usage.keyCertSign | usage.cRLSign, true));
      break;
    case 'tls-server': {
      const rsa = params.publicKey.algorithm.name.startsWith('RSA');
      extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
      extensions.push(new x509.KeyUsagesExtension(usage.digitalSignature | (rsa ? usage.keyEncipherment : 0), true));
      extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false));
      extensions.push(subjectAltNames(params.dnsNames ?? [], params.ipAddresses ?? []));
      break;
    }
    case 'device-client':
      extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
      extensions.push(new x509.KeyUsagesExtension(usage.digitalSignature, true));
      extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false));
      break;
  }
  extensions.push(ski);
  if (aki) extensions.push(aki);
  return extensions;
}

function authorityKeyIdentifier(issuer: Certificate): x509.AuthorityKeyIdentifierExtension {
  const issuerSki = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!issuerSki) throw new FleetcertError('internal', `issuing CA ${issuer.subject} has no subject key identifier`);
  return new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId);
}

function subjectAltNames(dnsNames: readonly string[], ipAddresses: readonly string[]): x509.SubjectAlternativeNameExtension {
  if (dnsNames.length + ipAddresses.length === 0) {
    throw new FleetcertError('internal', 'a TLS server certificate needs at least one DNS name or IP address');
  }
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) throw new FleetcertError('config_invalid', `"${ip}" is not an IP address`);
  }
  const names: x509.JsonGeneralNames = [
    ...dedupe(dnsNames).map((value) => ({ type: 'dns' as const, value })),
    ...dedupe(ipAddresses).map((value) => ({ type: 'ip' as const, value })),
  ];
  return new x509.SubjectAlternativeNameExtension(names, false);
}

function dedupe(values: readonly string[]): string[] {
  return [...new Set(values)];
}
