/**
 * The fleet token from HTTP Basic credentials (RFC 7030 §3.2.3). EST clients put it where
 * they can: `curl -u rpi-1:fct_…` sends it as the password, `curl -u fct_…:` as the user
 * name. Whichever part looks like a token is the token.
 */
export function tokenFromAuthorization(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 1024) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  if (password.startsWith('fct_')) return password;
  if (user.startsWith('fct_')) return user;
  return password || user || undefined;
}
