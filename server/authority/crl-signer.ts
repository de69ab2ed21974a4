/**
 * The CRL seam: revocation entries in, a signed CRL's DER out. `publish-crl.ts` depends on
 * this interface only; `peculiar-crl-signer.ts` is today's implementation.
 */
import { FleetcertError } from '../../shared/errors.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import type { RevocationReason } from '../../shared/pki/crl.js';

export interface RevokedEntry {
  /** Hex, any spelling normalizeSerial accepts. */
  readonly serialNumber: string;
  readonly revokedAt: Date;
  /** The entry carries no reason code extension when undefined. */
  readonly reason?: RevocationReason;
}

export interface CrlRequest {
  readonly entries: readonly RevokedEntry[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Monotonic CRL number (RFC 5280 §5.2.3), non-critical extension. */
  readonly crlNumber: number;
}

export interface CrlSigner {
  /** The CA whose CRL this is: its certificate verifies what `sign` returns. */
  readonly certificate: Certificate;
  /** DER of a v2 CRL: the issuer's name, CRL number and AKI extensions, one entry per serial. */
  sign(request: CrlRequest): Promise<Uint8Array>;
}

/** The rules every implementation checks before signing. */
export function checkCrlRequest(request: CrlRequest): void {
  if (!(request.nextUpdate > request.thisUpdate)) throw new FleetcertError('internal', 'CRL nextUpdate must follow thisUpdate');
  if (!Number.isSafeInteger(request.crlNumber) || request.crlNumber < 0) {
    throw new FleetcertError('internal', `CRL number must be a non-negative integer, got ${request.crlNumber}`);
  }
}
