/**
 * One line of a Mosquitto 2.0 password file, in the format mosquitto_passwd writes:
 * `user:$7$<iterations>$<base64 12-byte salt>$<base64 64-byte PBKDF2-HMAC-SHA512>`.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';

const ITERATIONS = 101;

export function passwordFileLine(user: string, password: string, salt: Buffer = randomBytes(12)): string {
  const hash = pbkdf2Sync(password, salt, ITERATIONS, 64, 'sha512');
  return `${user}:$7$${ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}\n`;
}
