/** A new fleet token as `token create` and the console make it: the secret once, the record with its hash. */
import { FleetcertError } from '../../shared/errors.js';
import type { ApprovalMode, Labels, ReenrollMode, TokenRecord } from '../registry/records.js';
import { generateFleetToken } from './fleet-token.js';

export interface TokenSpec {
  readonly name: string;
  /** Lifetime in seconds, or undefined for a token that never expires. */
  readonly expiresSeconds: number | undefined;
  readonly maxUses: number | null;
  readonly idPattern: string | null;
  readonly labels: Labels;
  readonly approval: ApprovalMode;
  readonly reenroll: ReenrollMode;
}

/** Device-id globs a token may carry: the id alphabet and the wildcards * ?. */
export const ID_PATTERN_RULE = /^[A-Za-z0-9._*?-]{1,64}$/;

export function newToken(spec: TokenSpec, now: Date): { readonly token: string; readonly record: TokenRecord } {
  if (spec.idPattern !== null && !ID_PATTERN_RULE.test(spec.idPattern)) {
    throw new FleetcertError('usage', `id pattern "${spec.idPattern.slice(0, 64)}" may hold only A-Z a-z 0-9 . _ - and the wildcards * ?`);
  }
  const fresh = generateFleetToken();
  const record: TokenRecord = {
    id: fresh.id,
    name: spec.name,
    secretHash: fresh.secretHash,
    createdAt: now,
    expiresAt: spec.expiresSeconds === undefined ? null : new Date(now.getTime() + spec.expiresSeconds * 1000),
    maxUses: spec.maxUses,
    uses: 0,
    idPattern: spec.idPattern,
    labels: spec.labels,
    approval: spec.approval,
    reenroll: spec.reenroll,
    revokedAt: null,
  };
  return { token: fresh.token, record };
}

/** `key=value` labels given to every device a token enrolls (key: A-Z a-z 0-9 _ . -, up to 32; value up to 64 printable characters). */
export function parseLabels(values: readonly string[]): Labels {
  const labels: Labels = {};
  for (const value of values) {
    const match = /^([A-Za-z0-9_.-]{1,32})=([\x20-\x7e]{0,64})$/.exec(value);
    if (!match) {
      throw new FleetcertError(
        'usage',
        `label "${value.slice(0, 100)}" must be key=value (key: A-Z a-z 0-9 _ . -, up to 32; value up to 64 printable characters)`,
      );
    }
    labels[match[1]!] = match[2]!;
  }
  return labels;
}
