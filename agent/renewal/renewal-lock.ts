/**
 * One renewal at a time per device (certbot's lock.py): a lock file created exclusively, with
 * the holder's pid. A lock left by a process that no longer exists is taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';

export async function withRenewalLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  await acquire(path);
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}

async function acquire(path: string, retried = false): Promise<void> {
  try {
    const handle = await open(path, 'wx', 0o600);
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!retried && !isAlive(holder)) {
      await rm(path, { force: true });
      return acquire(path, true);
    }
    throw new FleetcertError('renewal_in_progress', `another renewal is running (pid ${holder}, lock ${path})`, { hint: 'wait for it to finish' });
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
