/**
 * The CA passphrase: from a file (the usual way for a service: systemd credentials, a
 * root-only file) or an environment variable. `init` may create the file with a random
 * passphrase when it does not exist yet, so a first install needs no secret typed anywhere.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';

export const PASSPHRASE_ENV = 'FLEETCERT_CA_PASSPHRASE';
export const MIN_PASSPHRASE_LENGTH = 12;

export interface PassphraseSource {
  readonly file?: string | undefined;
  /** The value of FLEETCERT_CA_PASSPHRASE, if set. */
  readonly env?: string | undefined;
}

export interface Passphrase {
  readonly value: string;
  /** Where it came from, for messages (never the value). */
  readonly origin: string;
  readonly generated: boolean;
}

const HINT = `give one with --passphrase-file FILE (created with a random passphrase if missing) or ${PASSPHRASE_ENV}`;

export async function readPassphrase(source: PassphraseSource): Promise<Passphrase> {
  if (source.file !== undefined) {
    let text: string;
    try {
      text = await readFile(source.file, 'utf8');
    } catch (err) {
      throw new FleetcertError(
        'passphrase_missing',
        `cannot read passphrase file ${source.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        { cause: err, hint: HINT },
      );
    }
    return { value: checked(text.replace(/\r?\n$/, ''), source.file), origin: source.file, generated: false };
  }
  if (source.env !== undefined && source.env !== '') {
    return { value: checked(source.env, PASSPHRASE_ENV), origin: PASSPHRASE_ENV, generated: false };
  }
  throw new FleetcertError('passphrase_missing', 'no CA passphrase given', { hint: HINT });
}

/** Like readPassphrase, but a named file that does not exist is created (0600, random). */
export async function readOrCreatePassphrase(source: PassphraseSource): Promise<Passphrase> {
  if (source.file !== undefined) {
    const value = randomBytes(32).toString('base64url');
    try {
      await writeFileAtomic(source.file, value + '\n', { mode: 0o600, exclusive: true });
      return { value, origin: source.file, generated: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FleetcertError(
          'passphrase_missing',
          `cannot create passphrase file ${source.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
          { cause: err },
        );
      }
    }
  }
  return readPassphrase(source);
}

function checked(value: string, origin: string): string {
  if (value.length < MIN_PASSPHRASE_LENGTH) {
    throw new FleetcertError('passphrase_missing', `the passphrase from ${origin} is shorter than ${MIN_PASSPHRASE_LENGTH} characters`, {
      hint: HINT,
    });
  }
  return value;
}
