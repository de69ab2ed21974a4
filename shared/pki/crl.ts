/**
 * Reading certificate revocation lists: parsed and checked before anything installs one.
 * Mosquitto fails open on a garbage CRL at reload and refuses everyone once nextUpdate has
 * passed, so `parseCrl` is strict. Signing is the server's (server/authority/crl-signer.ts).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import { FleetcertError } from '../errors.js';
import { normalizeSerial, type Certificate } from './certificate.js';
import { toDer, toPem } from './encoding.js';
import { toX509, x509 } from './x509-provider.js';

export const MAX_CRL_BYTES = 4 * 1024 * 1024;

/** The reason codes fleetcert writes (RFC 5280 §5.3.1), by the names the CLI and the registry use. */
export const REVOCATION_REASONS = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  caCompromise: x509.X509CrlReason.cACompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface CrlInfo {
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: number | undefined;
  readonly entries: readonly { serialNumber: string; revokedAt: Date; reason: number | undefined }[];
  readonly pem: string;
}

/** Parses a CRL and, when the issuer is given, verifies its signature and issuer name. */
export async function parseCrl(input: string | Uint8Array, issuer?: Certificate): Promise<CrlInfo> {
  const der = toDer(input, 'crl_invalid', MAX_CRL_BYTES);
  let crl: x509.X509Crl;
  try {
    // asn1js's default of 10,000 nodes stops at ~1,250 entries, below a fleet's CRL (see
    // docs/BENCHMARKS.md); every node takes at least 2 bytes, so the size cap already bounds the work.
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
    // asn1-schema returns INTEGERs of 4 bytes or more as decimal strings, whatever its types say.
    // oxlint-disable-next-line typescript/no-unnecessary-type-conversion
    crlNumber: numberExt ? Number(AsnConvert.parse(numberExt.value, CRLNumber).value) : undefined,
    entries: crl.entries.map((e) => ({ serialNumber: normalizeSerial(e.serialNumber), revokedAt: e.revocationDate, reason: e.reason })),
    pem: toPem(der, 'X509 CRL'),
  };
}
