/**
 * Console passwords, hashed with scrypt (memory-hard, in node:crypto): the parameters are stored
 * with each hash, `scrypt$N=32768,r=8,p=1$<salt b64>$<hash b64>`, so they can be raised later
 * without invalidating stored hashes. Verification is constant-time and refuses parameters
 * outside sane bounds (a tampered row must not make a login cost gigabytes).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** N=2^15, r=8: 32 MiB and ~100 ms per hash (OWASP: N >= 2^17 with r=8 p=1, or equivalents); raise with the hardware. */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const MAX_N = 2 ** 20;
export const MAX_PASSWORD_CHARS = 1024;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r * params.p + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A well-formed hash no password matches in practice: verified when an admin has none, so that path costs one scrypt too. */
export const DUMMY_PASSWORD_HASH =
  `scrypt$N=${SCRYPT_PARAMS.N},r=${SCRYPT_PARAMS.r},p=${SCRYPT_PARAMS.p}$` +
  `${randomBytes(SALT_BYTES).toString('base64')}$${randomBytes(KEY_BYTES).toString('base64')}`;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, SCRYPT_PARAMS);
  const { N, r, p } = SCRYPT_PARAMS;
  return `scrypt$N=${N},r=${r},p=${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True only for the password the hash was made from; false for anything else, a malformed hash included. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_CHARS) return false;
  const match = /^scrypt\$N=(\d{1,8}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]{16,64})\$([A-Za-z0-9+/=]{16,128})$/.exec(stored);
  if (!match) return false;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || r < 1 || r > 16 || p < 1 || p > 4) return false;
  const expected = Buffer.from(match[5]!, 'base64');
  const key = await derive(password, Buffer.from(match[4]!, 'base64'), { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
