/**
 * What a valid token allows, as pure functions of the token and `now`: not revoked, not
 * expired, and the device id inside its pattern. Use counting is atomic in the registry.
 */
import type { ErrorCode } from '../../shared/errors.js';
import type { TokenRecord } from '../registry/records.js';

export function tokenRefusal(token: TokenRecord, now: Date): ErrorCode | undefined {
  if (token.revokedAt !== null) return 'token_revoked';
  if (token.expiresAt !== null && now >= token.expiresAt) return 'token_expired';
  return undefined;
}

/** Glob with `*` (any run) and `?` (one character); everything else is literal. */
export function idMatchesPattern(id: string, pattern: string | null): boolean {
  if (pattern === null) return true;
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(id);
}

export type TokenState = 'active' | 'revoked' | 'expired' | 'exhausted';

export function tokenState(token: TokenRecord, now: Date): TokenState {
  const refusal = tokenRefusal(token, now);
  if (refusal === 'token_revoked') return 'revoked';
  if (refusal === 'token_expired') return 'expired';
  if (token.maxUses !== null && token.uses >= token.maxUses) return 'exhausted';
  return 'active';
}
