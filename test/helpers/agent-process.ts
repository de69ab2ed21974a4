/** `fleetcert-agent` as its own process for end-to-end tests: logs captured, lines awaited. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AGENT_MAIN } from './cli.js';
import { stopProcess } from './stop-process.js';

const WIRE_TAP = fileURLToPath(new URL('./wire-tap.js', import.meta.url));

export interface AgentProcess {
  logs(): string;
  stdout(): string;
  /** Resolves with the first log line matching, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export function startAgent(args: readonly string[], options: { wireTap?: string; env?: NodeJS.ProcessEnv } = {}): AgentProcess {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLEETCERT_')) env[k] = v;
  Object.assign(env, options.env);
  const nodeArgs = options.wireTap ? ['--import', WIRE_TAP] : [];
  if (options.wireTap) env.FLEETCERT_TEST_WIRE_TAP = options.wireTap;
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, AGENT_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let logs = '';
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    logs: () => logs,
    stdout: () => out,
    exited,
    waitFor: (pattern, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const check = () => {
          const line = logs.split('\n').find((l) => pattern.test(l));
          if (line) return resolve(line);
          if (child.exitCode !== null) return reject(new Error(`agent exited (${child.exitCode}) before ${pattern}:\n${logs}`));
          if (Date.now() - started > timeoutMs) return reject(new Error(`no log line ${pattern} within ${timeoutMs} ms:\n${logs}`));
          setTimeout(check, 50);
        };
        check();
      }),
    stop: () => stopProcess(child, exited, 'fleetcert-agent'),
  };
}
