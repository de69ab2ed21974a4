/** A real logger whose JSON lines stay in memory, so unit tests can look for an `event`. */
import { createLogger, type Logger } from '#shared/log/logger.js';

export interface MemoryLog {
  readonly log: Logger;
  /** Every line written so far, parsed. */
  readonly records: () => Record<string, unknown>[];
  /** The lines carrying this `event`. */
  readonly events: (name: string) => Record<string, unknown>[];
}

export function memoryLog(namespace = 'test'): MemoryLog {
  const lines: string[] = [];
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    log: createLogger({ namespace, level: 'debug', sink: (line) => lines.push(line) }),
    records,
    events: (name) => records().filter((r) => r.event === name),
  };
}
