/**
 * Today's CRL signer: @peculiar/x509 with the issuing CA's key, imported once. Every CRL carries
 * the CRL number and the CA's key identifier (AKI), and each entry its reason code if it has one.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import type { Certificate } from '../../shared/pki/certificate.js';
import { normalizeSerial } from '../../shared/pki/certificate.js';
import { REVOCATION_REASONS } from '../../shared/pki/crl.js';
import { signingAlgorithm } from '../../shared/pki/key-pair.js';
import { x509 } from '../../shared/pki/x509-provider.js';
import { checkCrlRequest, type CrlRequest, type CrlSigner } from './crl-signer.js';
import type { CaSigner } from './certificate-issuer.js';
import { subjectKeyId } from './peculiar-issuer.js';

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
      issuer: this.certificate.subjectName,
      thisUpdate: request.thisUpdate,
      nextUpdate: request.nextUpdate,
      signingKey: this.ca.keys.privateKey,
      signingAlgorithm: signingAlgorithm(this.ca.keys.type),
      extensions: [
        new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(request.crlNumber))),
        new x509.AuthorityKeyIdentifierExtension(this.issuerKeyId),
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
