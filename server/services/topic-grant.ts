/**
 * The topic filters an operator grants a service (`--read`, `--write`), checked before they reach
 * the registry or the broker's ACL file: a filter is one ACL line, so anything that could break
 * the line (whitespace, control characters) or mean something else to Mosquitto (`%` patterns,
 * `$SYS`, misplaced wildcards) is refused. Writing is further kept off fleetcert's own control
 * topics (`fleetcert/...`: device status, renew-now commands), which only devices and the server use.
 */
import { FleetcertError } from '../../shared/errors.js';

export type GrantAccess = 'read' | 'write';

export const MAX_FILTER_CHARS = 256;
export const MAX_FILTERS = 32;
/** The first topic level of fleetcert's control plane (shared/protocol/topics.ts). */
const CONTROL_LEVEL = 'fleetcert';

export function parseTopicFilter(filter: string, access: GrantAccess): string {
  const refuse = (why: string): never => {
    throw new FleetcertError('usage', `--${access} ${JSON.stringify(filter.slice(0, 60))}: ${why}`);
  };
  if (filter.length === 0 || filter.length > MAX_FILTER_CHARS) refuse(`a topic filter has 1 to ${MAX_FILTER_CHARS} characters`);
  if (/[\s%\p{Cc}]/u.test(filter)) refuse('no whitespace, control characters or % in a topic filter');
  if (filter.startsWith('$')) refuse("$SYS and other $ topics are the broker's own");
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) refuse('# must be a whole level, and the last');
    if (level.includes('+') && level !== '+') refuse('+ must be a whole level');
  });
  if (access === 'write' && ['+', '#', CONTROL_LEVEL].includes(levels[0]!)) {
    refuse(`services never write to ${CONTROL_LEVEL}/... (device status and commands): start the filter with another level`);
  }
  return filter;
}

/** Every filter of one access, checked, duplicates dropped, in the order given. */
export function parseTopicFilters(filters: readonly string[], access: GrantAccess): string[] {
  if (filters.length > MAX_FILTERS) throw new FleetcertError('usage', `at most ${MAX_FILTERS} --${access} filters`);
  return [...new Set(filters.map((f) => parseTopicFilter(f, access)))];
}
