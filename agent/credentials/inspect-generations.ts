/**
 * What is on disk, classified: where the `live` link points and, for every generation, whether
 * it is complete (every file there, parsable, its key proven to belong to its certificate) or
 * what is wrong with it. Reads only; choose-generation.ts decides what to do with the answer.
 */
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { readCertificate, readCertificates, type Certificate } from '../../shared/pki/certificate.js';
import type { CredentialFiles, StateLayout } from '../config/state-layout.js';

export type GenerationCheck =
  | { readonly name: string; readonly complete: true; readonly certificate: Certificate }
  | { readonly name: string; readonly complete: false; readonly problem: string };

export type CompleteGeneration = Extract<GenerationCheck, { complete: true }>;

export type LiveLink =
  | { readonly kind: 'absent' }
  | { readonly kind: 'link'; readonly target: string }
  | { readonly kind: 'unreadable'; readonly problem: string };

export interface CredentialInventory {
  readonly live: LiveLink;
  /** Oldest first. */
  readonly generations: readonly GenerationCheck[];
}

export const GENERATION_NAME = /^\d{6}$/;

export async function generationNames(layout: StateLayout): Promise<string[]> {
  const names = await readdir(layout.generationsDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.filter((n) => GENERATION_NAME.test(n)).sort();
}

export async function inspectGenerations(layout: StateLayout): Promise<CredentialInventory> {
  // The link first: an install by another process only adds newer generations and prunes older
  // ones, never the one the link named a moment ago, so the target is in the list read after it.
  const live = await readLiveLink(layout);
  const names = await generationNames(layout);
  const generations = await Promise.all(names.map((name) => checkGeneration(name, layout.generation(name))));
  return { live, generations };
}

export async function readLiveLink(layout: StateLayout): Promise<LiveLink> {
  try {
    return { kind: 'link', target: basename(await readlink(layout.live.dir)) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'absent' };
    // EINVAL: `live` exists but is not a symbolic link (someone copied the directory).
    return { kind: 'unreadable', problem: `${layout.live.dir} is not a symbolic link to a generation (${code ?? String(err)})` };
  }
}

async function checkGeneration(name: string, files: CredentialFiles): Promise<GenerationCheck> {
  const problem = (text: string): GenerationCheck => ({ name, complete: false, problem: text });
  const read = async (path: string): Promise<string | { problem: string }> =>
    readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => ({
      problem: `${path}: ${err.code === 'ENOENT' ? 'missing' : `unreadable (${err.code})`}`,
    }));
  const [keyPem, certPem, chainPem, caPem] = await Promise.all([read(files.key), read(files.cert), read(files.chain), read(files.ca)]);
  for (const file of [keyPem, certPem, chainPem, caPem]) if (typeof file !== 'string') return problem(file.problem);
  let certificate: Certificate;
  try {
    certificate = readCertificate(certPem as string);
    const chain = readCertificates(chainPem as string);
    if (!chain[0] || !Buffer.from(chain[0].rawData).equals(Buffer.from(certificate.rawData)))
      return problem(`${files.chain} does not start with ${files.cert}`);
    readCertificate(caPem as string);
  } catch (err) {
    return problem(`a certificate file of generation ${name} does not parse (${(err as Error).message})`);
  }
  if (!keyProvesCertificate(keyPem as string, certPem as string))
    return problem(`${files.key} is not the key of ${files.cert} (corrupt or replaced)`);
  return { name, complete: true, certificate };
}

/**
 * A signature made with the key verifies with the certificate's public key. Comparing public
 * keys is not enough: a PKCS#8 file carries a copy of the public key, which survives a flipped
 * byte in the private scalar.
 */
function keyProvesCertificate(keyPem: string, certPem: string): boolean {
  try {
    const key = createPrivateKey({ key: keyPem, format: 'pem' });
    const publicKey = createPublicKey(certPem);
    const challenge = Buffer.from('fleetcert generation check');
    return verify('sha256', challenge, publicKey, sign('sha256', challenge, key));
  } catch {
    return false;
  }
}
