/**
 * Crash-safe file replacement for SD cards and servers alike: write a temporary file in the
 * same directory with its final mode, fsync it, rename it over the target, fsync the
 * directory. A reader sees the old file or the new one, never a torn one; power loss after
 * return keeps the new one.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

export interface WriteFileOptions {
  /** File mode of the result (default 0o644). Keys use 0o600. */
  mode?: number;
  /** Fail with EEXIST instead of replacing an existing file. */
  exclusive?: boolean;
  /** Group of the result, set on the temporary file so the final file never has another. */
  gid?: number;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
  const mode = options.mode ?? 0o644;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx' with the final mode: the secret never exists with a wider mode, not even briefly.
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // umask may have narrowed the mode given to open()
    if (options.gid !== undefined) await handle.chown(-1, options.gid);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    if (options.exclusive) {
      await linkExclusive(tmp, path);
    } else {
      await rename(tmp, path);
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(dir);
}

/** Creates a directory (and parents) with the given mode; the leaf's mode is enforced. */
export async function ensureDirectory(path: string, mode = 0o755): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  await chmod(path, mode);
}

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function linkExclusive(tmp: string, path: string): Promise<void> {
  await link(tmp, path); // EEXIST if the target exists: never replaces
  await rm(tmp);
}
