/**
 * Fleet bootstrap tokens: `fct_<id>_<secret>`. The id is public (it names the token in lists
 * and logs); the 256-bit secret is shown once and stored only as its SHA-256 (a fast hash is
 * right for a uniformly random 256-bit secret: there is nothing to brute-force). Comparison is
 * constant-time.
 */
import { createHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { FLEET_TOKEN_PATTERN } from '../../shared/protocol/bootstrap-file.js';

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 10;

export interface NewFleetToken {
  readonly id: string;
  /** The full token, `fct_<id>_<secret>`: shown once, never stored. */
  readonly token: string;
  readonly secretHash: Buffer;
}

export function generateFleetToken(randomBytes: (n: number) => Uint8Array = nodeRandomBytes): NewFleetToken {
  let id = '';
  while (id.length < ID_LENGTH) {
    for (const byte of randomBytes(16)) {
      // Rejection sampling keeps every character equally likely.
      if (byte < 252 && id.length < ID_LENGTH) id += ID_ALPHABET[byte % 36];
    }
  }
  const secret = Buffer.from(randomBytes(32)).toString('base64url');
  return { id, token: `fct_${id}_${secret}`, secretHash: hashSecret(secret) };
}

export interface ParsedFleetToken {
  readonly id: string;
  readonly secret: string;
}

export function parseFleetToken(text: string): ParsedFleetToken | undefined {
  const match = FLEET_TOKEN_PATTERN.exec(text);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time: the time taken does not depend on how much of the secret is right. */
export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return candidate.length === storedHash.length && timingSafeEqual(candidate, storedHash);
}
