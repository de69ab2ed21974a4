/**
 * The CRL signer for a fleet's CRL: the same CRL as `PeculiarCrlSigner` (version 2, the CRL
 * number, AKI and issuing distribution point extensions, a reason code per entry that has one),
 * assembled with `server/pki/der-writer.ts` and signed with node:crypto. A fleet that renews
 * supersedes a certificate per device per lifetime, so the CRL holds about one entry per device:
 * 10,000 entries took the reference 2.4-2.8 s of blocked event loop per publication here.
 *
 * It must stay byte-identical to the reference in everything but the signature value
 * (test/unit/server/authority/fast-crl-signer-differential.test.ts).
 */
import { KeyObject, sign } from 'node:crypto';
import type { Certificate } from '../../shared/pki/certificate.js';
import { normalizeSerial } from '../../shared/pki/certificate.js';
import { REVOCATION_REASONS } from '../../shared/pki/crl.js';
import {
  DER_TRUE,
  derBitString,
  derContext,
  derContextPrimitive,
  derEnumerated,
  derInteger,
  derObjectIdentifier,
  derSequence,
  derTime,
} from '../pki/der-writer.js';
import type { CaSigner } from './certificate-issuer.js';
import { checkCrlRequest, type CrlRequest, type CrlSigner } from './crl-signer.js';
import { extension, SIGNATURE, subjectNameBytes } from './fast-issuer.js';
import { subjectKeyId } from './peculiar-issuer.js';

const OID = {
  cRLNumber: derObjectIdentifier('2.5.29.20'),
  reasonCode: derObjectIdentifier('2.5.29.21'),
  issuingDistributionPoint: derObjectIdentifier('2.5.29.28'),
  authorityKeyIdentifier: derObjectIdentifier('2.5.29.35'),
} as const;

const VERSION_2 = derInteger(1);
/** onlyContainsUserCerts [1] TRUE, and nothing else (peculiar-crl-signer.ts says why). */
const ISSUING_DISTRIBUTION_POINT = extension(
  OID.issuingDistributionPoint,
  true,
  derSequence([derContextPrimitive(1, DER_TRUE.subarray(2))]),
);
const NO_EXTENSIONS = derSequence([]);
/** One reason-code extension per reason, made once: a fleet's CRL repeats `superseded` thousands of times. */
const REASON_EXTENSIONS = new Map(
  Object.values(REVOCATION_REASONS).map((code) => [code, derSequence([extension(OID.reasonCode, false, derEnumerated(code))])]),
);

export class FastCrlSigner implements CrlSigner {
  readonly certificate: Certificate;
  private readonly signingKey: KeyObject;
  private readonly hash: string;
  private readonly signatureAlgorithm: Uint8Array;
  private readonly issuerName: Uint8Array;
  private readonly authorityKeyIdentifier: Uint8Array;

  constructor(ca: CaSigner) {
    this.certificate = ca.certificate;
    this.signingKey = KeyObject.from(ca.keys.privateKey);
    ({ hash: this.hash, algorithm: this.signatureAlgorithm } = SIGNATURE[ca.keys.type]);
    this.issuerName = subjectNameBytes(new Uint8Array(ca.certificate.rawData));
    const keyId = Buffer.from(subjectKeyId(ca.certificate), 'hex');
    this.authorityKeyIdentifier = extension(OID.authorityKeyIdentifier, false, derSequence([derContextPrimitive(0, keyId)]));
  }

  async sign(request: CrlRequest): Promise<Uint8Array> {
    checkCrlRequest(request);
    const entries = request.entries.map((e) => {
      const fields = [derInteger(BigInt(`0x${normalizeSerial(e.serialNumber)}`)), derTime(wholeSeconds(e.revokedAt))];
      // As the reference: no reason code for `unspecified` (RFC 5280 §5.3.1 says to leave it out), and an
      // empty extension list for an entry without a reason code (kept, to stay identical).
      const code = e.reason === undefined ? 0 : REVOCATION_REASONS[e.reason];
      fields.push(code === 0 ? NO_EXTENSIONS : REASON_EXTENSIONS.get(code)!);
      return derSequence(fields);
    });
    const tbs = derSequence([
      VERSION_2,
      this.signatureAlgorithm,
      this.issuerName,
      derTime(wholeSeconds(request.thisUpdate)),
      derTime(wholeSeconds(request.nextUpdate)),
      ...(entries.length > 0 ? [derSequence(entries)] : []),
      derContext(0, [
        derSequence([
          extension(OID.cRLNumber, false, derInteger(request.crlNumber)),
          this.authorityKeyIdentifier,
          ISSUING_DISTRIBUTION_POINT,
        ]),
      ]),
    ]);
    const signature = sign(this.hash, tbs, this.signingKey);
    return derSequence([tbs, this.signatureAlgorithm, derBitString(signature)]);
  }
}

/** X.509 times have no fraction: the registry's millisecond times are cut to the second, as the reference does. */
function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
