/**
 * The CRL reader fleetcert used before the lean one (@peculiar/x509 over asn1js), kept as the
 * reference the lean reader is held to (test/unit/shared/pki/crl-differential.test.ts).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import { FleetcertError } from '#shared/errors.js';
import { normalizeSerial, type Certificate } from '#shared/pki/certificate.js';
import { MAX_CRL_BYTES, type CrlInfo } from '#shared/pki/crl.js';
import { toDer, toPem } from '#shared/pki/encoding.js';
import { toX509, x509 } from '#shared/pki/x509-provider.js';

export async function parseCrlReference(input: string | Uint8Array, issuer?: Certificate): Promise<CrlInfo> {
  const der = toDer(input, 'crl_invalid', MAX_CRL_BYTES);
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(der.slice(), { berOptions: { maxNodes: der.length } });
  } catch (err) {
    throw new FleetcertError('crl_invalid', 'not a DER X.509 CRL', { cause: err });
  }
  if (issuer) {
    if (crl.issuer !== issuer.subject) {
      throw new FleetcertError('crl_invalid', `CRL issuer "${crl.issuer}" is not "${issuer.subject}"`);
    }
    const ok = await crl.verify({ publicKey: toX509(issuer).publicKey }).catch(() => false);
    if (!ok) throw new FleetcertError('crl_invalid', 'CRL signature does not verify against its issuer');
  }
  const numberExt = crl.extensions.find((e) => e.type === id_ce_cRLNumber);
  return {
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    // oxlint-disable-next-line typescript/no-unnecessary-type-conversion
    crlNumber: numberExt ? Number(AsnConvert.parse(numberExt.value, CRLNumber).value) : undefined,
    entries: crl.entries.map((e) => ({ serialNumber: normalizeSerial(e.serialNumber), revokedAt: e.revocationDate, reason: e.reason })),
    pem: toPem(der, 'X509 CRL'),
  };
}
