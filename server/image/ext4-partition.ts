/**
 * Reads and writes one ext4 partition of an image file with `debugfs "img?offset=N"`: no mount,
 * no loop device, no root for a file the user owns. debugfs exits 0 on errors, so every command
 * runs on its own (`-R`) and anything on stderr besides its version banner is a failure.
 * Its own traps, avoided here: `mkdir` on an existing directory and `write` over an existing
 * file leave half-written inodes (so stat first, remove first), `write` does not follow a
 * symlink in the directory part (so paths are resolved here first), and names are quoted.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { runImageTool } from './run-image-tool.js';

export type InodeType = 'regular' | 'directory' | 'symlink' | 'other';

export interface InodeInfo {
  readonly type: InodeType;
  /** Permission bits (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** A symlink's target. */
  readonly target: string | undefined;
}

export interface Ownership {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

const TYPE_BITS: Record<InodeType, number> = { regular: 0o100000, directory: 0o040000, symlink: 0o120000, other: 0 };
const MAX_SYMLINK_HOPS = 16;

export class Ext4Partition {
  readonly #spec: string;
  /** Directories known to exist: path asked for -> its resolved path. */
  readonly #dirs = new Map<string, string>();

  constructor(image: string, offsetBytes: number) {
    // debugfs reads options after a "?" in the device name.
    if (image.includes('?')) throw new FleetcertError('image_invalid', `${image}: rename the image file without "?" in its path`);
    this.#spec = `${image}?offset=${offsetBytes}`;
  }

  /** The inode at `path` (not following a final symlink), or undefined when absent. */
  async stat(path: string): Promise<InodeInfo | undefined> {
    const { stdout, errors } = await this.#debugfs(false, `stat ${quote(path)}`);
    if (errors.some((e) => /File not found|not a directory/i.test(e))) return undefined;
    this.#check(`stat ${path}`, errors);
    return parseStat(stdout);
  }

  /** `path` with every symlink in it resolved inside the image (absolute targets stay inside). */
  async resolve(path: string): Promise<string> {
    let parts = splitPath(path);
    let done = '/';
    for (let hops = 0; parts.length > 0;) {
      const next = posix.join(done, parts.shift()!);
      const info = await this.stat(next);
      if (info?.type === 'symlink') {
        if ((hops += 1) > MAX_SYMLINK_HOPS) throw new FleetcertError('image_invalid', `${path}: too many symlinks in the image`);
        const target = info.target ?? '';
        parts = [...splitPath(target), ...parts];
        if (target.startsWith('/')) done = '/';
        continue;
      }
      done = next;
    }
    return done;
  }

  /** The file's bytes (symlinks followed), or undefined when absent. */
  async readFile(path: string): Promise<Buffer | undefined> {
    const resolved = await this.resolve(path);
    const info = await this.stat(resolved);
    if (info?.type !== 'regular') return undefined;
    const dir = await mkdtemp(join(tmpdir(), 'fleetcert-debugfs-'));
    try {
      const out = join(dir, 'file');
      const { errors } = await this.#debugfs(false, `dump ${quote(resolved)} ${quote(out)}`);
      this.#check(`dump ${resolved}`, errors);
      return await readFile(out);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Names in a directory (symlinks in the path followed). */
  async list(path: string): Promise<{ name: string; mode: number; size: number }[]> {
    const resolved = await this.resolve(path);
    const { stdout, errors } = await this.#debugfs(false, `ls -p ${quote(resolved)}`);
    this.#check(`ls ${resolved}`, errors);
    return stdout
      .split('\n')
      .map((line) => /^\/\d+\/(\d+)\/\d+\/\d+\/(.*)\/(\d*)\/$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && m[2] !== '.' && m[2] !== '..')
      .map((m) => ({ name: m[2]!, mode: parseInt(m[1]!, 8), size: Number(m[3] || 0) }));
  }

  /** Creates `path` and its missing parents (root-owned 0755 unless `own` says otherwise for the last). */
  async mkdirp(path: string, own?: Ownership): Promise<string> {
    const known = this.#dirs.get(path);
    if (known !== undefined && !own) return known;
    const made = await this.#mkdirp(path, own);
    this.#dirs.set(path, made);
    return made;
  }

  async #mkdirp(path: string, own?: Ownership): Promise<string> {
    const parent = posix.dirname(path);
    const parentResolved = parent === path ? '/' : await this.mkdirp(parent);
    const full = posix.join(parentResolved, posix.basename(path));
    const info = await this.stat(full);
    if (info?.type === 'symlink') return this.mkdirp(await this.resolve(full), own);
    if (info && info.type !== 'directory') throw new FleetcertError('image_invalid', `${full} in the image is not a directory`);
    if (!info) {
      await this.#write(`mkdir ${quote(full)}`);
      await this.#own(full, 'directory', own ?? { mode: 0o755, uid: 0, gid: 0 });
    } else if (own) {
      await this.#own(full, 'directory', own);
    }
    return full;
  }

  /** Writes a local file to `path` (replacing what is there), with its mode and owner. */
  async writeFile(path: string, localFile: string, own: Ownership): Promise<void> {
    const dir = await this.mkdirp(posix.dirname(path));
    const full = posix.join(dir, posix.basename(path));
    await this.#remove(full);
    await this.#write(`cd ${quote(dir)}`, `write ${quote(localFile)} ${quote(posix.basename(path))}`);
    await this.#own(full, 'regular', own);
  }

  /** Makes `path` a symlink to `target` (replacing what is there). */
  async symlink(path: string, target: string): Promise<void> {
    const dir = await this.mkdirp(posix.dirname(path));
    const full = posix.join(dir, posix.basename(path));
    await this.#remove(full);
    await this.#write(`symlink ${quote(full)} ${quote(target)}`);
  }

  async #remove(full: string): Promise<void> {
    const info = await this.stat(full);
    if (!info) return;
    if (info.type === 'directory') throw new FleetcertError('image_invalid', `${full} in the image is a directory, expected a file`);
    await this.#write(`rm ${quote(full)}`);
  }

  async #own(full: string, type: InodeType, own: Ownership): Promise<void> {
    await this.#write(
      `sif ${quote(full)} mode 0${(TYPE_BITS[type] | own.mode).toString(8)}`,
      `sif ${quote(full)} uid ${own.uid}`,
      `sif ${quote(full)} gid ${own.gid}`,
    );
  }

  async #write(...commands: string[]): Promise<void> {
    // One invocation, several commands: through -f, each echoed on stdout and its errors on
    // stderr; any error line fails the batch (the batches are small and each step idempotent).
    const { errors } = await this.#debugfs(true, ...commands);
    this.#check(commands.join('; '), errors);
  }

  #check(what: string, errors: readonly string[]): void {
    if (errors.length > 0) throw new FleetcertError('image_tool_failed', `debugfs ${what}: ${errors.join('; ')}`);
  }

  async #debugfs(write: boolean, ...commands: string[]): Promise<{ stdout: string; errors: string[] }> {
    const args = commands.length === 1 ? ['-R', commands[0]!] : ['-f', '-'];
    const res = await runImageTool('debugfs', [...(write ? ['-w'] : []), ...args, this.#spec], {
      allowFailure: true,
      input: commands.length === 1 ? undefined : commands.join('\n') + '\n',
    });
    const errors = res.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^debugfs \d/.test(l));
    if (res.code !== 0 && errors.length === 0) errors.push(`exit ${res.code}`);
    return { stdout: res.stdout, errors };
  }
}

/** Parses the first lines of `debugfs stat` output. */
export function parseStat(text: string): InodeInfo | undefined {
  const head = /Type:\s+(\S+)\s+Mode:\s+0?([0-7]+)/.exec(text);
  const owner = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(text);
  const size = /Size:\s+(\d+)/.exec(text);
  if (!head || !owner) return undefined;
  const type: InodeType = head[1] === 'regular' || head[1] === 'directory' || head[1] === 'symlink' ? head[1] : 'other';
  const target = /Fast link dest:\s+"(.*)"/.exec(text)?.[1];
  return {
    type,
    mode: parseInt(head[2]!, 8) & 0o7777,
    uid: Number(owner[1]),
    gid: Number(owner[2]),
    size: Number(size?.[1] ?? 0),
    target,
  };
}

function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

/** debugfs's quoting: double quotes, with no way to escape one inside. */
export function quote(path: string): string {
  if (/["\n\r]/.test(path)) throw new FleetcertError('image_invalid', `cannot write a name with a quote or newline into an image: ${path}`);
  return `"${path}"`;
}
