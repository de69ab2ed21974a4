/**
 * Debian 12's own `nodejs` (18.x) for arm64 or armhf, run under qemu-user on this machine: the
 * sysroot comes from scripts/arm-sysroot.mjs (built once into a cache outside the clone). A
 * missing qemu or an unreachable mirror is a test failure, never a skip.
 */
import { execFile } from 'node:child_process';
import { repoPath } from './repo.js';

export type ArmArch = 'arm64' | 'armhf';

export interface ArmNode {
  readonly arch: ArmArch;
  /** `node --version` of the sysroot's node. */
  readonly version: string;
  /** qemu-<arch>-static, its options, and the sysroot's node: what to put before a script. */
  readonly program: readonly string[];
}

const SCRIPT = repoPath('scripts', 'arm-sysroot.mjs');

export function armNode(arch: ArmArch): Promise<ArmNode> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, arch, '--json'], { timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`no ${arch} node (scripts/arm-sysroot.mjs ${arch}): ${stderr || err.message}`));
      const made = JSON.parse(stdout) as { version: string; command: string; args: string[] };
      resolve({ arch, version: made.version, program: [made.command, ...made.args] });
    });
  });
}
