/**
 * Removes secrets that must never reach a log, a status message or an error: PEM private
 * key blocks (plain or encrypted) and fleet bootstrap tokens (`fct_<id>_<secret>`; the id
 * part is kept so an operator can still tell which token was used).
 */

const PRIVATE_KEY_BLOCK = /-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----[\s\S]*?(?:-----END \1-----|$)/g;
const TOKEN = /\b(fct_[A-Za-z0-9]+)_[A-Za-z0-9_-]{16,}/g;

export function redact(text: string): string {
  return text.replace(PRIVATE_KEY_BLOCK, '[redacted private key]').replace(TOKEN, '$1_[redacted]');
}
