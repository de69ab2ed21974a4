/**
 * Keys and certificates on the device, crash-safe at every step (certbot's save_successor /
 * update_all_links_to, for an SD card):
 * - a key is made and written 0600 into `pending/` before anything goes on the wire; after a
 *   crash the same key is used again (and the server returns the same certificate);
 * - an issued certificate is written beside it, every file fsynced, then `pending/` becomes
 *   `generations/<n>` by rename (a candidate); a renewal proves it at the broker first, then the
 *   `live` symlink is swapped by rename (commit);
 * - the previous generation is kept, older ones are removed.
 * Nothing is ever rewritten in place.
 */
import { readFile, rename, rm, symlink } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { ensureDirectory, syncDirectory, writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import {
  certificatesToPem,
  certificateToPem,
  describeCertificate,
  readCertificates,
  type Certificate,
  type CertificateInfo,
} from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, type KeyPair, type KeyType } from '../../shared/pki/key-pair.js';
import type { Logger } from '../../shared/log/logger.js';
import type { CredentialFiles, StateLayout } from '../config/state-layout.js';
import { chooseGeneration } from './choose-generation.js';
import { generationNames, inspectGenerations, readLiveLink, type LiveLink } from './inspect-generations.js';

export const GENERATIONS_KEPT = 2;

/** An installed generation: `files` are the stable `live/` paths for the live one, `generations/<n>/` for a candidate. */
export interface Candidate {
  readonly files: CredentialFiles;
  readonly generation: string;
  readonly certificate: Certificate;
}

export interface LiveCredentials extends Candidate {
  /** A renewed generation installed after the live one and not yet proven at the broker and committed. */
  readonly candidate: Candidate | undefined;
}

/** The PEM files of a generation, read now: what a TLS client presents (chain, key) and trusts (ca). */
export interface CredentialPems {
  readonly keyPem: string;
  readonly certChainPem: string;
  readonly caPem: string;
}

export async function readCredentialPems(files: CredentialFiles): Promise<CredentialPems> {
  const [keyPem, certChainPem, caPem] = await Promise.all([
    readFile(files.key, 'utf8'),
    readFile(files.chain, 'utf8'),
    readFile(files.ca, 'utf8'),
  ]);
  return { keyPem, certChainPem, caPem };
}

/** The certificate in a chain's PEM: the leaf, which a connection presents. */
export function leafOf(certChainPem: string): CertificateInfo {
  return describeCertificate(readCertificates(certChainPem)[0]!);
}

/** The leaf of the credentials in `files` now, or undefined while they cannot be read (mid-install, not enrolled). */
export async function readLeaf(files: CredentialFiles): Promise<CertificateInfo | undefined> {
  const chain = await readFile(files.chain, 'utf8').catch(() => undefined);
  return chain === undefined ? undefined : leafOf(chain);
}

export class CredentialStore {
  constructor(
    private readonly layout: StateLayout,
    private readonly log: Logger,
  ) {}

  /** The pending key (made and written 0600 now, if there is none yet). */
  async pendingKey(type: KeyType): Promise<{ keys: KeyPair; created: boolean }> {
    await ensureDirectory(this.layout.root, 0o700);
    await ensureDirectory(this.layout.pending.dir, 0o700);
    const existing = await readFile(this.layout.pending.key, 'utf8').catch(() => undefined);
    if (existing) {
      try {
        return { keys: await importPrivateKeyPem(existing), created: false };
      } catch {
        // A torn or foreign file: replace it with a new key below.
      }
    }
    const keys = await generateKeyPair(type);
    await writeFileAtomic(this.layout.pending.key, await exportPrivateKeyPem(keys), { mode: 0o600 });
    return { keys, created: true };
  }

  /**
   * A pending key beside installed credentials is a renewal that did not finish (killed, or the
   * server unreachable): the server may already hold a current certificate for it.
   */
  async hasPendingKey(): Promise<boolean> {
    return (await readFile(this.layout.pending.key, 'utf8').catch(() => '')) !== '';
  }

  /** Installs the pending key with its verified certificate as the new live generation (a first enrollment). */
  async install(leaf: Certificate, chain: readonly Certificate[], root: Certificate): Promise<LiveCredentials> {
    return this.commit(await this.installCandidate(leaf, chain, root));
  }

  /**
   * Phase one of a renewal: the pending key and its verified certificate become the next
   * generation, with `live` left where it is. Until commit() the candidate is only used to prove
   * it at the broker; a restart finds it again (choose-generation.ts) and proves it again.
   */
  async installCandidate(leaf: Certificate, chain: readonly Certificate[], root: Certificate): Promise<Candidate> {
    const pending = this.layout.pending;
    await writeFileAtomic(pending.cert, certificateToPem(leaf));
    await writeFileAtomic(pending.chain, certificatesToPem([leaf, ...chain.slice(1)]));
    await writeFileAtomic(pending.ca, certificateToPem(root));
    await ensureDirectory(this.layout.generationsDir, 0o700);
    const name = await this.nextGeneration();
    const target = this.layout.generation(name);
    await rename(pending.dir, target.dir);
    await syncDirectory(this.layout.generationsDir);
    return { files: target, generation: name, certificate: leaf };
  }

  /** Phase two: `live` is swapped to the candidate (atomic), then generations older than its predecessor are removed. */
  async commit(candidate: Candidate): Promise<LiveCredentials> {
    await this.pointLiveAt(candidate.generation);
    await this.prune(candidate.generation);
    return { files: this.layout.live, generation: candidate.generation, certificate: candidate.certificate, candidate: undefined };
  }

  /**
   * The live generation; undefined only when nothing was ever installed. A live generation that
   * cannot be used (see choose-generation.ts) is replaced by the newest complete one: `live` is
   * pointed at it and the broken generation is renamed `<n>.corrupt` for an operator to look at.
   * With no complete generation left this throws `credentials_corrupt`, never "not enrolled".
   * A complete generation newer than the live one is returned as `candidate`, never made live here.
   */
  async live(): Promise<LiveCredentials | undefined> {
    const inventory = await inspectGenerations(this.layout);
    const choice = chooseGeneration(inventory);
    switch (choice.kind) {
      case 'not_enrolled':
        return undefined;
      case 'live': {
        const { generation, candidate } = choice;
        return {
          files: this.layout.live,
          generation: generation.name,
          certificate: generation.certificate,
          candidate: candidate && {
            files: this.layout.generation(candidate.name),
            generation: candidate.name,
            certificate: candidate.certificate,
          },
        };
      }
      case 'fallback': {
        // Another process (an install, another repair) changed the link meanwhile: judge again, do not undo its work.
        if (!sameLink(inventory.live, await readLiveLink(this.layout))) return this.live();
        const { name, certificate } = choice.generation;
        this.log.warn('the live credentials cannot be used; falling back to a complete generation', {
          event: 'credentials_fallback',
          problem: choice.problem,
          unusable: choice.unusable,
          generation: name,
          serial: describeCertificate(certificate).serialNumber,
          notAfter: certificate.notAfter,
        });
        await this.pointLiveAt(name);
        if (choice.unusable) {
          if (choice.unusable > name) await this.salvageKey(choice.unusable);
          await this.setAside(choice.unusable);
        }
        return { files: this.layout.live, generation: name, certificate, candidate: undefined };
      }
      case 'corrupt':
        throw new FleetcertError('credentials_corrupt', `the credentials in ${this.layout.root} are corrupt: ${choice.problem}`, {
          hint:
            `restore ${this.layout.generationsDir} from a backup, or, to enroll again with the bootstrap token (one use of it), ` +
            `move ${this.layout.live.dir} and ${this.layout.generationsDir} out of ${this.layout.root}`,
        });
    }
  }

  /** The live generation, or `not_enrolled` for the commands that need one. */
  async requireLive(): Promise<LiveCredentials> {
    const live = await this.live();
    if (live) return live;
    throw new FleetcertError('not_enrolled', `not enrolled: no certificate at ${this.layout.live.cert}`, {
      hint: 'the agent enrolls by itself once a bootstrap file is on the boot partition, or run "fleetcert-agent enroll"',
    });
  }

  /** Swaps the `live` pointer: a new symlink renamed over the old one is atomic. */
  private async pointLiveAt(name: string): Promise<void> {
    const tmp = `${this.layout.live.dir}.${process.pid}.tmp`;
    await rm(tmp, { force: true });
    await symlink(`generations/${name}`, tmp);
    await rename(tmp, this.layout.live.dir);
    await syncDirectory(this.layout.root);
  }

  /**
   * The live generation broke and an OLDER one took over: the server's current certificate is the
   * broken one's, and the older one is superseded (revoked at the broker once the newer was
   * proven). Its key, if still intact, is kept as the pending key: the renewal resumed at start
   * then gets the current certificate for it again (a retry for the same key, no token use),
   * instead of a new key the server would refuse. Never over a pending key already there.
   */
  private async salvageKey(name: string): Promise<void> {
    if (await this.hasPendingKey()) return;
    const text = await readFile(this.layout.generation(name).key, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    try {
      await importPrivateKeyPem(text);
    } catch {
      return;
    }
    await ensureDirectory(this.layout.pending.dir, 0o700);
    await writeFileAtomic(this.layout.pending.key, text, { mode: 0o600 });
    this.log.info('kept the key of the broken generation to fetch its certificate again', {
      event: 'credentials_key_salvaged',
      generation: name,
    });
  }

  /** Out of the generation sequence (never pruned as "previous"), kept for inspection. */
  private async setAside(name: string): Promise<void> {
    const aside = `${this.layout.generation(name).dir}.corrupt`;
    await rm(aside, { recursive: true, force: true });
    await rename(this.layout.generation(name).dir, aside).catch((err: NodeJS.ErrnoException) => {
      // Another process (the service and `fleetcert-agent renew`) set it aside first.
      if (err.code !== 'ENOENT') throw err;
    });
    await syncDirectory(this.layout.generationsDir);
  }

  private async nextGeneration(): Promise<string> {
    const last = (await generationNames(this.layout)).at(-1);
    return String((last ? Number(last) : 0) + 1).padStart(6, '0');
  }

  /** Removes generations older than the live one and its predecessor; never the live one or a newer one. */
  private async prune(live: string): Promise<void> {
    const older = (await generationNames(this.layout)).filter((name) => name < live);
    for (const old of older.slice(0, Math.max(0, older.length - (GENERATIONS_KEPT - 1)))) {
      await rm(this.layout.generation(old).dir, { recursive: true, force: true });
    }
  }
}

function sameLink(a: LiveLink, b: LiveLink): boolean {
  return a.kind === b.kind && (a.kind !== 'link' || b.kind !== 'link' || a.target === b.target);
}
