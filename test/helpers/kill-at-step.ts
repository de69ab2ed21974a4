/**
 * Crash injection at a numbered file-system step (test/fixtures/kill-at-step/kill-at-step.c, an
 * LD_PRELOAD library: it numbers every mutating call under one directory and SIGKILLs the
 * process on entry to step N). Built once per run with gcc; nothing in the agent knows of it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run.js';
import { repoPath } from './repo.js';

// Compiled helpers live in dist/test/helpers; the C source stays in test/fixtures.
const SOURCE = repoPath('test', 'fixtures', 'kill-at-step', 'kill-at-step.c');

/** Compiles the library into `dir`; fails with gcc's words (CI installs gcc for this). */
export async function buildKillAtStep(dir: string): Promise<string> {
  const library = join(dir, 'kill-at-step.so');
  const res = await run('gcc', ['-shared', '-fPIC', '-O2', '-o', library, SOURCE, '-ldl', '-lpthread']).catch((err: Error) => ({
    code: -1,
    stdout: '',
    stderr: err.message,
  }));
  if (res.code !== 0) throw new Error(`cannot build ${SOURCE} (is gcc installed?): ${res.stderr}`);
  return library;
}

/** The environment that makes a process count (and with `at` > 0, die at) its steps under `watched`. */
export function killAtStepEnv(library: string, watched: string, log: string, at = 0): NodeJS.ProcessEnv {
  // UV_USE_IO_URING=0: file I/O through io_uring would bypass the library's wrappers.
  return { LD_PRELOAD: library, KILL_STEP_DIR: watched, KILL_STEP_AT: String(at), KILL_STEP_LOG: log, UV_USE_IO_URING: '0' };
}

export interface Step {
  readonly n: number;
  /** `<call> <path>` with the watched directory, random temporary names and pids made stable. */
  readonly what: string;
  readonly killed: boolean;
}

/** The steps a process logged, normalised so that two runs of the same program compare equal. */
export async function readSteps(log: string, watched: string): Promise<Step[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [n, ...rest] = line.split(' ');
      const killed = rest.at(-1) === 'KILLED';
      const what = (killed ? rest.slice(0, -1) : rest)
        .join(' ')
        .split(watched)
        .join('<state>')
        .replace(/\.[0-9a-f]{12,}\.tmp/g, '.<random>.tmp')
        .replace(/\.\d+\.tmp/g, '.<pid>.tmp');
      return { n: Number(n), what, killed };
    });
}
