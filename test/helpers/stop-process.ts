import type { ChildProcess } from 'node:child_process';

/**
 * SIGTERM, then SIGKILL after `graceMs`: a test never hangs on a process that will not stop.
 * Resolves with the exit code; a process that had to be killed rejects with its name, so a
 * product that ignores SIGTERM fails the test instead of stalling CI.
 */
export async function stopProcess(
  child: ChildProcess,
  exited: Promise<number | null>,
  name: string,
  graceMs = 10_000,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<'killed'>((resolve) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('killed');
    }, graceMs);
  });
  const result = await Promise.race([exited, killed]);
  clearTimeout(timer);
  if (result === 'killed') {
    await exited;
    throw new Error(`${name} did not stop within ${graceMs} ms of SIGTERM and was killed`);
  }
  return result;
}
