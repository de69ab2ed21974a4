/**
 * Reading PKCS#7 (CMS SignedData) "certs-only": the EST wire format for /cacerts and
 * /simpleenroll responses (RFC 7030 §4.1.3, §4.2.3). The fixed shape is walked with the strict DER
 * reader, so the agent's EST client (its renewal info included, which runs while it idles) does
 * not load an ASN.1 library. Only the server writes it, from DER (server/pki/certs-only-pkcs7.ts).
 */
import { FleetcertError } from '../errors.js';
import { MAX_BUNDLE_CERTIFICATES, readCertificate, type Certificate } from './certificate.js';
import { DerReader } from './der-reader.js';
import { toDer } from './encoding.js';

export const MAX_PKCS7_BYTES = 64 * 1024;

const SIGNED_DATA_OID = '1.2.840.113549.1.7.2';

export function decodeCertsOnly(input: string | Uint8Array): Certificate[] {
  const der = toDer(input, 'pkcs7_invalid', MAX_PKCS7_BYTES);
  const r = new DerReader(der, 'pkcs7_invalid');
  const [type, wrapper] = r.expect(r.root(), 0x30, 'PKCS#7 ContentInfo', 2, 2);
  if (r.objectIdentifier(type, 'PKCS#7 content type') !== SIGNED_DATA_OID) r.fail('not a PKCS#7 SignedData structure');
  const [signedData] = r.expect(wrapper, 0xa0, 'PKCS#7 content', 1, 1);
  const fields = r.expect(signedData, 0x30, 'SignedData', 4, 6);
  if (fields[0]!.tag !== 0x02 || fields[1]!.tag !== 0x31 || fields[2]!.tag !== 0x30 || fields.at(-1)!.tag !== 0x31) {
    r.fail('SignedData: unexpected fields');
  }
  const certificates = fields.find((f) => f.tag === 0xa0);
  const items = certificates ? r.children(certificates) : [];
  if (items.length === 0) throw new FleetcertError('pkcs7_invalid', 'the PKCS#7 structure carries no certificate');
  if (items.length > MAX_BUNDLE_CERTIFICATES) {
    throw new FleetcertError('pkcs7_invalid', `PKCS#7 carries ${items.length} certificates, more than ${MAX_BUNDLE_CERTIFICATES}`);
  }
  return items.map((item) => {
    try {
      return readCertificate(r.encoding(item));
    } catch (err) {
      throw new FleetcertError('pkcs7_invalid', 'a certificate in the PKCS#7 structure does not parse', { cause: err });
    }
  });
}
