/**
 * Path validation from a leaf to one of the trusted roots: issuer by name and by
 * signature, every certificate valid at `now`, every issuer a CA allowed to sign
 * certificates, path length constraints honoured. Expired and not-yet-valid are reported
 * with their own codes: on a board without an RTC, "not yet valid" is a clock problem.
 */
import { FleetcertError } from '../errors.js';
import type { Certificate } from './certificate.js';

/** The library, loaded on the first validation: the agent validates only when it enrolls or renews. */
const provider = () => import('./x509-provider.js');

const MAX_DEPTH = 5;

export interface ChainInput {
  readonly leaf: Certificate;
  /** Untrusted certificates that may complete the path (e.g. the intermediate). */
  readonly intermediates?: readonly Certificate[];
  /** Trust anchors. */
  readonly roots: readonly Certificate[];
  readonly now: Date;
  /**
   * How long after its notAfter the LEAF is still accepted (renewal grace window); the CA
   * certificates above it must be valid at `now` regardless. Default 0.
   */
  readonly leafGraceMs?: number;
}

/** Returns the validated path, leaf first, ending with the trust anchor. */
export async function verifyChain(input: ChainInput): Promise<Certificate[]> {
  const { now } = input;
  const pool = [...(input.intermediates ?? []), ...input.roots];
  const path: Certificate[] = [input.leaf];
  let current = input.leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth += 1) {
    checkValidity(current, now, depth === 0 ? (input.leafGraceMs ?? 0) : 0);
    if (isTrusted(current, input.roots)) return path;
    const issuer = await findIssuer(current, pool, path);
    if (!issuer) {
      throw new FleetcertError('chain_invalid', `no trusted issuer found for "${current.subject}" (issuer "${current.issuer}")`);
    }
    await checkIssuerMayIssue(issuer, path.length - 1);
    path.push(issuer);
    current = issuer;
  }
  throw new FleetcertError('chain_invalid', `certificate path longer than ${MAX_DEPTH}`);
}

function checkValidity(cert: Certificate, now: Date, graceMs: number): void {
  if (now < cert.notBefore) {
    throw new FleetcertError(
      'cert_not_yet_valid',
      `"${cert.subject}" is not valid before ${cert.notBefore.toISOString()} (now ${now.toISOString()})`,
    );
  }
  if (now.getTime() > cert.notAfter.getTime() + graceMs) {
    const grace = graceMs > 0 ? `, past its ${Math.round(graceMs / 1000)} s grace window` : '';
    throw new FleetcertError(
      'cert_expired',
      `"${cert.subject}" expired at ${cert.notAfter.toISOString()}${grace} (now ${now.toISOString()})`,
    );
  }
}

function isTrusted(cert: Certificate, roots: readonly Certificate[]): boolean {
  return roots.some((root) => sameCertificate(root, cert));
}

function sameCertificate(a: Certificate, b: Certificate): boolean {
  return a === b || Buffer.from(a.rawData).equals(Buffer.from(b.rawData));
}

async function findIssuer(cert: Certificate, pool: readonly Certificate[], path: readonly Certificate[]): Promise<Certificate | undefined> {
  const { toX509 } = await provider();
  for (const candidate of pool) {
    if (path.some((p) => sameCertificate(p, candidate))) continue;
    if (candidate.subject !== cert.issuer) continue;
    try {
      if (await toX509(cert).verify({ publicKey: toX509(candidate).publicKey, signatureOnly: true })) return candidate;
    } catch {
      // Unusable key or algorithm mismatch: not this issuer.
    }
  }
  return undefined;
}

async function checkIssuerMayIssue(issuer: Certificate, certsBelowIssuer: number): Promise<void> {
  const { toX509, x509 } = await provider();
  const basic = toX509(issuer).getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) throw new FleetcertError('chain_invalid', `"${issuer.subject}" is not a CA`);
  // pathLength counts the CA certificates that may follow below this one (the leaf excluded).
  if (basic.pathLength !== undefined && certsBelowIssuer > basic.pathLength) {
    throw new FleetcertError('chain_invalid', `"${issuer.subject}" path length constraint exceeded`);
  }
  const usage = toX509(issuer).getExtension(x509.KeyUsagesExtension);
  if (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new FleetcertError('chain_invalid', `"${issuer.subject}" may not sign certificates`);
  }
}
