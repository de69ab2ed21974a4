/**
 * Refused enrollment attempts as operators read them (`device list --refused`, `device show` of
 * an id that never enrolled): grouped by id, source and code, the most recent first.
 */
import type { RefusalGroup } from '../registry/records.js';
import { minute, table } from './format.js';

/** How far back `device list --refused` looks: the first week of a rollout, and a board retrying all along. */
export const REFUSALS_WINDOW_DAYS = 7;

export function refusalsSince(now: Date): Date {
  return new Date(now.getTime() - REFUSALS_WINDOW_DAYS * 86_400_000);
}

export function refusalJson(g: RefusalGroup) {
  return {
    deviceId: g.deviceId,
    source: g.source,
    code: g.code,
    count: g.count,
    firstAt: g.firstAt.toISOString(),
    lastAt: g.lastAt.toISOString(),
  };
}

export function refusalsTable(groups: readonly RefusalGroup[]): string {
  return table(
    ['DEVICE', 'SOURCE', 'CODE', 'COUNT', 'FIRST', 'LAST'],
    groups.map((g) => [
      // No id: refused before the CSR was read (a bad or unknown token).
      g.deviceId ?? '(unknown)',
      g.source ?? '-',
      g.code ?? '-',
      String(g.count),
      minute(g.firstAt),
      minute(g.lastAt),
    ]),
  );
}
