/**
 * JSON-lines logger for journald: one object per line, namespaced, levels, lazy at debug so
 * a disabled debug line costs one comparison on a Pi. Every line passes through `redact`
 * before it is written, as a last line of defence: callers log fingerprints and serials,
 * never keys or tokens.
 */
import { redact } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;
type Lazy<T> = T | (() => T);

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  readonly level: LogLevel;
  debug(message: Lazy<string>, fields?: Lazy<LogFields>): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(namespace: string): Logger;
}

export interface LoggerOptions {
  namespace: string;
  level?: LogLevel;
  /** Receives one complete line (with trailing newline). Default: stderr. */
  sink?: (line: string) => void;
  now?: () => Date;
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  if (value === undefined || value === '') return fallback;
  if (value in RANK) return value as LogLevel;
  throw new Error(`unknown log level "${value}" (use debug, info, warn, error or silent)`);
}

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? 'info';
  const sink = options.sink ?? ((line: string) => void process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const threshold = RANK[level];

  const write = (lvl: LogLevel, message: Lazy<string>, fields?: Lazy<LogFields>): void => {
    if (RANK[lvl] < threshold) return;
    const msg = typeof message === 'function' ? message() : message;
    const extra = typeof fields === 'function' ? fields() : fields;
    const record = { time: now().toISOString(), level: lvl, ns: options.namespace, msg, ...extra };
    sink(redact(JSON.stringify(record, jsonReplacer)) + '\n');
  };

  return {
    level,
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (ns) => createLogger({ ...options, level, namespace: `${options.namespace}:${ns}` }),
  };
}

/** A logger that writes nothing: the default for library code when none is injected. */
export const silentLogger: Logger = createLogger({ namespace: 'silent', level: 'silent' });

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { message: value.message, ...(code === undefined ? {} : { code }) };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}
