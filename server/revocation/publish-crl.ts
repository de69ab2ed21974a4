/**
 * Writes the issuing CA's CRL where Mosquitto reads it. Mosquitto fails open on a garbage CRL
 * at reload and refuses every client once nextUpdate has passed, so the new CRL is parsed and
 * checked (signature, issuer, entries, dates) before it atomically replaces the old one.
 * Only the issuing CA's CRL is needed: Mosquitto 2.0 checks revocation of the client
 * certificate (X509_V_FLAG_CRL_CHECK), not of the intermediate.
 */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { parseCrl, REVOCATION_REASONS, type RevocationReason } from '../../shared/pki/crl.js';
import { toPem } from '../../shared/pki/encoding.js';
import type { Authority } from '../authority/authority.js';
import type { CrlSigner } from '../authority/crl-signer.js';
import type { BrokerLink } from '../config/broker-settings.js';
import { brokerFiles, brokerOwnership, writeBrokerFile, type Ownership } from '../mosquitto/broker-files.js';
import { reloadBroker, type ReloadResult } from '../mosquitto/reload-broker.js';
import type { RevokedEntry } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';

export interface CrlPublication {
  readonly path: string;
  readonly crlNumber: number;
  readonly entries: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

export interface PublishCrlParams {
  readonly registry: Registry;
  readonly signer: CrlSigner;
  readonly crlFile: string;
  readonly owner: Ownership;
  readonly now: Date;
  readonly validitySeconds: number;
}

/**
 * How often a publication signs again because a revocation landed (or another process published)
 * between reading the entries and installing the CRL.
 */
const PUBLISH_ATTEMPTS = 4;

/**
 * Builds, checks and installs the CRL. Several processes publish (serve's batches, the CLI's
 * `device revoke`, `crl publish`, other servers on the same PostgreSQL), so the number comes from
 * the registry and the CRL is installed only inside a registry transaction that finds the revoked
 * set unchanged since it was read and stores it as the latest only if no other publication landed
 * meanwhile (compare-and-swap on the number; `storeCrl` holds the publication lock until the
 * transaction ends, so file writes happen in number order too): a CRL missing a revocation
 * committed meanwhile can never land after one that has it, and numbers never go backwards.
 * Signing, the slow part, happens outside the transaction.
 */
export async function publishCrl(p: PublishCrlParams): Promise<CrlPublication> {
  for (let attempt = 1; ; attempt += 1) {
    const revoked = await p.registry.revokedCertificates(p.now);
    const stored = await p.registry.latestCrl();
    // The file's number too: a CRL published before the registry kept one must not be undercut.
    const onFile = await readExisting(p.crlFile);
    // Monotonic even if two publications fall in one second or the clock steps back.
    const crlNumber = Math.max((stored?.crlNumber ?? 0) + 1, (onFile?.crlNumber ?? 0) + 1, Math.floor(p.now.getTime() / 1000));
    const signed = await signChecked(p, revoked, crlNumber);
    const installed = await p.registry.transaction(async (tx) => {
      if (!sameEntries(await tx.revokedCertificates(p.now), revoked)) return false;
      const crl = { crlNumber, thisUpdate: signed.thisUpdate, nextUpdate: signed.nextUpdate, der: Buffer.from(signed.der) };
      if (!(await tx.storeCrl(crl, stored?.crlNumber ?? null))) return false;
      await writeBrokerFile(p.crlFile, signed.pem, p.owner);
      return true;
    });
    const { thisUpdate, nextUpdate } = signed;
    if (installed) return { path: p.crlFile, crlNumber, entries: revoked.length, thisUpdate, nextUpdate };
    if (attempt >= PUBLISH_ATTEMPTS) {
      const why = `revocations or other publications kept changing the CRL while it was built (${attempt} attempts)`;
      throw new FleetcertError('registry_conflict', why);
    }
  }
}

/** Signs the CRL and reads it back as a broker would, refusing one that does not match what was asked. */
async function signChecked(p: PublishCrlParams, revoked: readonly RevokedEntry[], crlNumber: number) {
  const thisUpdate = p.now;
  const nextUpdate = new Date(p.now.getTime() + p.validitySeconds * 1000);
  const der = await p.signer.sign({
    entries: revoked.map((r) => ({ serialNumber: r.serial, revokedAt: r.revokedAt, reason: asReason(r.reason) })),
    thisUpdate,
    nextUpdate,
    crlNumber,
  });
  const pem = toPem(der, 'X509 CRL');
  const check = await parseCrl(der, p.signer.certificate);
  const problem =
    check.entries.length !== revoked.length
      ? `${check.entries.length} entries instead of ${revoked.length}`
      : !check.nextUpdate || check.nextUpdate <= p.now
        ? `nextUpdate ${check.nextUpdate?.toISOString()} is not in the future`
        : check.crlNumber !== crlNumber
          ? `CRL number ${check.crlNumber} instead of ${crlNumber}`
          : undefined;
  if (problem) throw new FleetcertError('crl_invalid', `the CRL just built does not read back as built (${problem}); not installing it`);
  return { der, pem, thisUpdate, nextUpdate };
}

function sameEntries(a: readonly RevokedEntry[], b: readonly RevokedEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.serial === b[i]!.serial && e.reason === b[i]!.reason);
}

/** The broker's CRL, where broker-config put it and owned as its other files. */
export async function publishBrokerCrl(registry: Registry, authority: Authority, broker: BrokerLink, now: Date): Promise<CrlPublication> {
  const { settings } = broker;
  return publishCrl({
    registry,
    signer: authority.crlSigner,
    crlFile: brokerFiles(settings.outDir).crlfile,
    owner: await brokerOwnership(settings.group ?? undefined),
    now,
    validitySeconds: settings.crlValiditySeconds,
  });
}

export interface CrlPublished extends CrlPublication {
  readonly reload: ReloadResult;
}

/** The broker's CRL published, then the broker told to load it: from here on new connections meet it. */
export async function publishAndReload(registry: Registry, authority: Authority, broker: BrokerLink, now: Date): Promise<CrlPublished> {
  const crl = await publishBrokerCrl(registry, authority, broker, now);
  return { ...crl, reload: await reloadBroker(broker.settings.reload) };
}

/** True when the CRL on disk is missing, unreadable, or past half its validity. */
export async function crlNeedsRefresh(crlFile: string, now: Date, validitySeconds: number): Promise<boolean> {
  const existing = await readExisting(crlFile);
  if (!existing?.nextUpdate) return true;
  return existing.nextUpdate.getTime() - now.getTime() < (validitySeconds * 1000) / 2;
}

async function readExisting(path: string) {
  try {
    return await parseCrl(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function asReason(reason: string | null): RevocationReason | undefined {
  return reason !== null && reason in REVOCATION_REASONS ? (reason as RevocationReason) : undefined;
}
