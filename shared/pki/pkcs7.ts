/**
 * Reading PKCS#7 (CMS SignedData) "certs-only": the EST wire format for /cacerts and
 * /simpleenroll responses (RFC 7030 §4.1.3, §4.2.3). The library does the ASN.1. Only the
 * server writes it, from DER (server/pki/certs-only-pkcs7.ts).
 */
import { FleetcertError } from '../errors.js';
import { MAX_BUNDLE_CERTIFICATES, type Certificate } from './certificate.js';
import { toDer } from './encoding.js';
import { x509 } from './x509-provider.js';

export const MAX_PKCS7_BYTES = 64 * 1024;

export function decodeCertsOnly(input: string | Uint8Array): Certificate[] {
  const der = toDer(input, 'pkcs7_invalid', MAX_PKCS7_BYTES);
  let certs: x509.X509Certificates;
  try {
    certs = new x509.X509Certificates(der.slice());
  } catch (err) {
    throw new FleetcertError('pkcs7_invalid', 'not a DER PKCS#7 certs-only structure', { cause: err });
  }
  if (certs.length === 0) throw new FleetcertError('pkcs7_invalid', 'the PKCS#7 structure carries no certificate');
  if (certs.length > MAX_BUNDLE_CERTIFICATES) {
    throw new FleetcertError('pkcs7_invalid', `PKCS#7 carries ${certs.length} certificates, more than ${MAX_BUNDLE_CERTIFICATES}`);
  }
  return [...certs];
}
