/**
 * Today's CRL signer: @peculiar/x509 with the issuing CA's key, imported once. Every CRL carries
 * the CRL number, the CA's key identifier (AKI) and an issuing distribution point, and each entry
 * its reason code if it has one.
 *
 * The issuing distribution point (critical, RFC 5280 §5.2.5) says onlyContainsUserCerts and
 * names no distribution point on purpose: OpenSSL (Mosquitto) treats a CRL whose IDP names a
 * point as out of scope for every certificate without a matching CRL distribution point, so
 * devices enrolled before certificates carried one, or under an earlier URL, would find no CRL
 * and be refused. Without the name the CRL covers every end-entity certificate of its issuer.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber, id_ce_issuingDistributionPoint, IssuingDistributionPoint } from '@peculiar/asn1-x509';
import type { Certificate } from '../../shared/pki/certificate.js';
import { normalizeSerial } from '../../shared/pki/certificate.js';
import { REVOCATION_REASONS } from '../../shared/pki/crl.js';
import { signingAlgorithm } from '../../shared/pki/key-pair.js';
import { toX509, x509 } from '../../shared/pki/x509-provider.js';
import { checkCrlRequest, type CrlRequest, type CrlSigner } from './crl-signer.js';
import type { CaSigner } from './certificate-issuer.js';
import { subjectKeyId } from './peculiar-issuer.js';

/** onlyContainsUserCerts: the issuing CA's CRL lists end-entity certificates only (its own CA certificate is the root's business). */
const ISSUING_DISTRIBUTION_POINT = new x509.Extension(
  id_ce_issuingDistributionPoint,
  true,
  AsnConvert.serialize(new IssuingDistributionPoint({ onlyContainsUserCerts: true })),
);

export class PeculiarCrlSigner implements CrlSigner {
  readonly certificate: Certificate;
  private readonly issuerKeyId: string;

  constructor(private readonly ca: CaSigner) {
    this.certificate = ca.certificate;
    this.issuerKeyId = subjectKeyId(ca.certificate);
  }

  async sign(request: CrlRequest): Promise<Uint8Array> {
    checkCrlRequest(request);
    const crl = await x509.X509CrlGenerator.create({
      issuer: toX509(this.certificate).subjectName,
      thisUpdate: request.thisUpdate,
      nextUpdate: request.nextUpdate,
      signingKey: this.ca.keys.privateKey,
      signingAlgorithm: signingAlgorithm(this.ca.keys.type),
      extensions: [
        new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(request.crlNumber))),
        new x509.AuthorityKeyIdentifierExtension(this.issuerKeyId),
        ISSUING_DISTRIBUTION_POINT,
      ],
      entries: request.entries.map((e) => ({
        serialNumber: normalizeSerial(e.serialNumber),
        revocationDate: e.revokedAt,
        ...(e.reason === undefined ? {} : { reason: REVOCATION_REASONS[e.reason] }),
      })),
    });
    return new Uint8Array(crl.rawData);
  }
}
