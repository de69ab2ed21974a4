/**
 * Durations as operators write them: `90s`, `30m`, `12h`, `14d`, `2w`, or a combination such
 * as `1d12h`. Strict: anything else is refused rather than guessed.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export function parseDuration(text: string, options: { allowZero?: boolean } = {}): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+[smhdw])+$/.test(trimmed)) return undefined;
  let seconds = 0;
  for (const [, n, unit] of trimmed.matchAll(/(\d+)([smhdw])/g)) seconds += Number(n) * UNIT_SECONDS[unit!]!;
  return Number.isSafeInteger(seconds) && (seconds > 0 || (options.allowZero === true && seconds === 0)) ? seconds : undefined;
}

export function formatDuration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
