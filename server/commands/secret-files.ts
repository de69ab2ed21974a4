/** Files the operator hands a command a secret in, and files a command writes a secret to. */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';

/** The first line of a file given by `option`; a usage error naming the option when it is unreadable or empty. */
export async function readSecretFile(file: string, option: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new FleetcertError('usage', `${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  const secret = firstLine(text);
  if (secret.length === 0) throw new FleetcertError('usage', `${option}: ${file} is empty`);
  return secret;
}

export function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0] ?? '';
}

/** Writes a 0600 file that must not exist yet (file_exists otherwise): a secret is never overwritten. */
export async function writeExclusive(path: string, data: string | Uint8Array): Promise<void> {
  try {
    await writeFileAtomic(path, data, { mode: 0o600, exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new FleetcertError('file_exists', `${path} already exists; refusing to overwrite it`, { hint: 'choose another path' });
    }
    throw err;
  }
}
