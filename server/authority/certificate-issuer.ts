/**
 * The issuer seam: an authorised request in, the signed certificate's DER and the facts the
 * registry records out. Protocol and policy code depend on this interface only, so a faster or
 * hardware-backed implementation replaces today's (`peculiar-issuer.ts`) without touching them.
 * Every implementation applies `certificate-profiles.ts` and must pass the shared conformance
 * suite (test/helpers/issuer-conformance.ts).
 */
import type { Certificate } from '../../shared/pki/certificate.js';
import type { KeyPair } from '../../shared/pki/key-pair.js';
import type { ProfileRequest } from './certificate-profiles.js';

export interface IssueRequest extends ProfileRequest {
  /** DER SubjectPublicKeyInfo of the key being certified (a CSR contributes this and nothing else). */
  readonly publicKeySpki: Uint8Array;
}

export interface IssuedCertificate {
  readonly der: Uint8Array;
  /** Lowercase hex without leading zero bytes, as the registry and the CRL spell it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A CA certificate with its key, imported once: what a software issuer or CRL signer is made from. */
export interface CaSigner {
  readonly certificate: Certificate;
  readonly keys: KeyPair;
}

export interface CertificateIssuer {
  /** The issuing CA's certificate: the next link of every chain it issues, and what verifies them. */
  readonly certificate: Certificate;
  /** Signs a certificate under this CA; `root-ca` is refused (a root is self-signed). */
  issue(request: IssueRequest): Promise<IssuedCertificate>;
}
