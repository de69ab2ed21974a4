/** The two programs as a user runs them: separate processes, stdout/stderr and exit code. */
import { fileURLToPath } from 'node:url';
import { run, type RunOptions, type RunResult } from './run.js';

// Compiled tests live in dist/test/helpers; the programs in dist/server and dist/agent.
export const SERVER_MAIN = fileURLToPath(new URL('../../server/main.js', import.meta.url));
export const AGENT_MAIN = fileURLToPath(new URL('../../agent/main.js', import.meta.url));

export function fleetcert(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [SERVER_MAIN, ...args], { ...options, env: cleanEnv(options.env) });
}

export function fleetcertAgent(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [AGENT_MAIN, ...args], { ...options, env: cleanEnv(options.env) });
}

/** The test runner's environment without any FLEETCERT_* leaking in, plus the given extras. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLEETCERT_')) env[k] = v;
  return { ...env, ...extra };
}
