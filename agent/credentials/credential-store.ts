/**
 * Keys and certificates on the device, crash-safe at every step (certbot's save_successor /
 * update_all_links_to, for an SD card):
 * - a key is made and written 0600 into `pending/` before anything goes on the wire; after a
 *   crash the same key is used again (and the server returns the same certificate);
 * - an issued certificate is written beside it, every file fsynced, then `pending/` becomes
 *   `generations/<n>` by rename and the `live` symlink is swapped by rename;
 * - the previous generation is kept, older ones are removed.
 * Nothing is ever rewritten in place.
 */
import { readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { ensureDirectory, syncDirectory, writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import { certificatesToPem, certificateToPem, readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, type KeyPair, type KeyType } from '../../shared/pki/key-pair.js';
import type { CredentialFiles, StateLayout } from '../config/state-layout.js';

export const GENERATIONS_KEPT = 2;

export interface LiveCredentials {
  readonly files: CredentialFiles;
  readonly generation: string;
  readonly certificate: Certificate;
}

/** The PEM files of a generation, read now: what a TLS client presents (chain, key) and trusts (ca). */
export interface CredentialPems {
  readonly keyPem: string;
  readonly certChainPem: string;
  readonly caPem: string;
}

export async function readCredentialPems(files: CredentialFiles): Promise<CredentialPems> {
  const [keyPem, certChainPem, caPem] = await Promise.all([readFile(files.key, 'utf8'), readFile(files.chain, 'utf8'), readFile(files.ca, 'utf8')]);
  return { keyPem, certChainPem, caPem };
}

export class CredentialStore {
  constructor(private readonly layout: StateLayout) {}

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

  /** Installs the pending key with its verified certificate as the new live generation. */
  async install(leaf: Certificate, chain: readonly Certificate[], root: Certificate): Promise<LiveCredentials> {
    const pending = this.layout.pending;
    await writeFileAtomic(pending.cert, certificateToPem(leaf));
    await writeFileAtomic(pending.chain, certificatesToPem([leaf, ...chain.slice(1)]));
    await writeFileAtomic(pending.ca, certificateToPem(root));
    await ensureDirectory(this.layout.generationsDir, 0o700);
    const name = await this.nextGeneration();
    const target = this.layout.generation(name);
    await rename(pending.dir, target.dir);
    await syncDirectory(this.layout.generationsDir);
    // Swap the pointer: a new symlink renamed over the old one is atomic.
    const tmp = `${this.layout.live.dir}.${process.pid}.tmp`;
    await rm(tmp, { force: true });
    await symlink(`generations/${name}`, tmp);
    await rename(tmp, this.layout.live.dir);
    await syncDirectory(this.layout.root);
    await this.prune();
    return { files: this.layout.live, generation: name, certificate: leaf };
  }

  /** The live generation, or undefined when nothing is installed (or it is unreadable). */
  async live(): Promise<LiveCredentials | undefined> {
    try {
      const generation = basename(await readlink(this.layout.live.dir));
      const certificate = readCertificate(await readFile(this.layout.live.cert, 'utf8'));
      return { files: this.layout.live, generation, certificate };
    } catch {
      return undefined;
    }
  }

  private async generations(): Promise<string[]> {
    const names = await readdir(this.layout.generationsDir).catch(() => [] as string[]);
    return names.filter((n) => /^\d{6}$/.test(n)).sort();
  }

  private async nextGeneration(): Promise<string> {
    const last = (await this.generations()).at(-1);
    return String((last ? Number(last) : 0) + 1).padStart(6, '0');
  }

  private async prune(): Promise<void> {
    const all = await this.generations();
    for (const old of all.slice(0, Math.max(0, all.length - GENERATIONS_KEPT))) {
      await rm(this.layout.generation(old).dir, { recursive: true, force: true });
    }
  }
}
