/**
 * Types for node-cron's matcher (next-cron-time.ts): the package declares only its scheduler,
 * which tests the expression by waking the process every second.
 */
declare module 'node-cron/src/time-matcher.js' {
  export default class TimeMatcher {
    constructor(pattern: string, timezone?: string);
    match(date: Date): boolean;
  }
}
