/**
 * The next moment after `after` that a cron expression names (pure: the moment is a parameter),
 * so the renewal schedule can sleep until then. node-cron's own scheduler wakes the process every
 * second to test the expression, which on a board is CPU for nothing; its matcher is reused here,
 * so the expressions are the ones the configuration validates with node-cron.
 */
import TimeMatcher from 'node-cron/src/time-matcher.js';

/** How far ahead to look: an expression that names nothing sooner is answered with this. */
export const CRON_HORIZON_MS = 86_400_000;

/** Per expression: its matcher, and the last answer with the moment it was computed from. */
const cache = new Map<string, { matcher: TimeMatcher; from: number; next: number }>();

export function nextCronTime(expression: string, after: Date): Date {
  let entry = cache.get(expression);
  if (!entry) {
    entry = { matcher: new TimeMatcher(expression), from: Number.NaN, next: Number.NaN };
    cache.set(expression, entry);
  }
  // Nothing matches between a search's start and its answer: a later `after` before it has the same answer.
  if (after.getTime() >= entry.from && after.getTime() < entry.next) return new Date(entry.next);
  const next = search(entry.matcher, after);
  Object.assign(entry, { from: after.getTime(), next: next.getTime() });
  return next;
}

function search(matcher: TimeMatcher, after: Date): Date {
  const first = Math.floor(after.getTime() / 1000) * 1000 + 1000;
  // One candidate per second: at most 900 for the default "*/15 * * * *", 86,400 for a daily one.
  for (let t = first; t <= after.getTime() + CRON_HORIZON_MS; t += 1000) {
    const candidate = new Date(t);
    if (matcher.match(candidate)) return candidate;
  }
  return new Date(after.getTime() + CRON_HORIZON_MS);
}
