/**
 * PKCS#7 (CMS SignedData) "certs-only", the EST wire format for /cacerts and /simpleenroll
 * replies (RFC 7030 §4.1.3, §4.2.3), assembled from the certificates' DER as they are: the
 * certificate just issued is never re-parsed or re-encoded. Byte for byte what
 * `openssl crl2pkcs7 -nocrl` writes: version 1, no digest algorithms, id-data content without
 * eContent, the certificates in the order given (leaf first), no signer infos.
 */
import { FleetcertError } from '../../shared/errors.js';
import { DER_TAG, derContext, derInteger, derObjectIdentifier, derSequence, derSet } from './der-writer.js';

const ID_SIGNED_DATA = derObjectIdentifier('1.2.840.113549.1.7.2');
const ID_DATA = derObjectIdentifier('1.2.840.113549.1.7.1');

export function encodeCertsOnly(certificates: readonly Uint8Array[]): Uint8Array {
  if (certificates.length === 0) throw new FleetcertError('internal', 'a certs-only PKCS#7 needs at least one certificate');
  // Cheap guard against PEM text or an empty buffer slipping in where DER belongs.
  if (certificates.some((der) => der.byteLength < 2 || der[0] !== DER_TAG.sequence)) {
    throw new FleetcertError('internal', 'certs-only PKCS#7: every certificate must be DER');
  }
  const signedData = derSequence([derInteger(1), derSet([]), derSequence([ID_DATA]), derContext(0, certificates), derSet([])]);
  return derSequence([ID_SIGNED_DATA, derContext(0, [signedData])]);
}
