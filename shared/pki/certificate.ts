/**
 * Reading certificates: parse (bounded), describe (the facts an operator and the registry
 * need), and compare with a key. Only the server builds certificates (server/authority/).
 */
import { FleetcertError } from '../errors.js';
import { sha256Hex, toDer, toDerBlocks, toPem } from './encoding.js';
import { exportPublicKeySpki, type KeyPair } from './key-pair.js';
import { x509 } from './x509-provider.js';

export type Certificate = x509.X509Certificate;

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
    return new x509.X509Certificate(der.slice());
  } catch (err) {
    throw new FleetcertError('certificate_invalid', 'not a DER X.509 certificate', { cause: err });
  }
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
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  return {
    subject: cert.subject,
    subjectCommonName: cert.subjectName.getField('CN')[0],
    issuer: cert.issuer,
    serialNumber: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: sha256Hex(new Uint8Array(cert.rawData)),
    publicKeyFingerprintSha256: sha256Hex(new Uint8Array(cert.publicKey.rawData)),
    isCa: basic?.ca ?? false,
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
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
