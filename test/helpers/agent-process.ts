/**
 * `fleetcert-agent` as its own process for end-to-end tests: logs captured, events awaited. Tests wait on
 * the stable `event` field of the JSON log lines, never on their English wording.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AGENT_MAIN } from './cli.js';
import { stopProcess } from './stop-process.js';

const WIRE_TAP = fileURLToPath(new URL('./wire-tap.js', import.meta.url));
const TIMER_TAP = fileURLToPath(new URL('./timer-tap.js', import.meta.url));

export interface AgentProcess {
  logs(): string;
  stdout(): string;
  /** Every JSON log line so far whose `event` is `name` (and whose fields include `match`), parsed. */
  events(name: string, match?: Record<string, unknown>): LogRecord[];
  /** Resolves with the first (or `count`-th) JSON log line whose `event` is `name`, or rejects after `timeoutMs`. */
  waitForEvent(name: string, timeoutMs?: number, options?: { count?: number; match?: Record<string, unknown> }): Promise<LogRecord>;
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export type LogRecord = Record<string, unknown>;

/** The JSON lines of a log; anything else on stderr (a crash trace) is skipped. */
export function logRecords(logs: string): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch {
      // A line still being written.
    }
  }
  return records;
}

/** The JSON lines of `logs` (a process's stderr) whose `event` is `name` and whose fields include `match`. */
export function eventsIn(logs: string, name: string, match: Record<string, unknown> = {}): LogRecord[] {
  return logRecords(logs).filter((r) => r.event === name && Object.entries(match).every(([k, v]) => r[k] === v));
}

export interface StartAgentOptions {
  wireTap?: string;
  /** A file that collects every firing of a timer shorter than a minute (timer-tap.ts). */
  timerTap?: string;
  env?: NodeJS.ProcessEnv;
  /** Another runtime for the agent (Node 18, qemu-user + an ARM node): the command line up to the agent's arguments. */
  program?: readonly string[];
}

export function startAgent(args: readonly string[], startOptions: StartAgentOptions = {}): AgentProcess {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLEETCERT_')) env[k] = v;
  Object.assign(env, startOptions.env);
  const nodeArgs = [...(startOptions.wireTap ? ['--import', WIRE_TAP] : []), ...(startOptions.timerTap ? ['--import', TIMER_TAP] : [])];
  if (startOptions.wireTap) env.FLEETCERT_TEST_WIRE_TAP = startOptions.wireTap;
  if (startOptions.timerTap) env.FLEETCERT_TEST_TIMER_TAP = startOptions.timerTap;
  const [command, ...programArgs] = startOptions.program ?? [process.execPath, ...nodeArgs, AGENT_MAIN];
  const child: ChildProcess = spawn(command!, [...programArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let logs = '';
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  /** Polls `probe` until it yields, the agent exits or `timeoutMs` passes. */
  const poll = <T>(probe: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        const found = probe();
        if (found !== undefined) return resolve(found);
        if (child.exitCode !== null) return reject(new Error(`agent exited (${child.exitCode}) before ${what}:\n${logs}`));
        if (Date.now() - started > timeoutMs) return reject(new Error(`no ${what} within ${timeoutMs} ms:\n${logs}`));
        setTimeout(check, 50);
      };
      check();
    });
  return {
    logs: () => logs,
    stdout: () => out,
    exited,
    events: (name, match) => eventsIn(logs, name, match),
    waitForEvent: (name, timeoutMs = 15_000, options = {}) =>
      poll(
        () => eventsIn(logs, name, options.match)[(options.count ?? 1) - 1],
        `event ${name}${options.count ? ` x${options.count}` : ''}`,
        timeoutMs,
      ),
    stop: () => stopProcess(child, exited, 'fleetcert-agent'),
  };
}
