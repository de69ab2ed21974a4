/**
 * Runs one of the userspace disk-image tools (sfdisk, mtools, debugfs, dpkg-deb, tar) with
 * arguments, never through a shell: image paths and file names may hold spaces. A tool that is
 * missing or fails is `image_tool_failed` naming the package to install.
 */
import { spawn } from 'node:child_process';
import { FleetcertError } from '../../shared/errors.js';

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const PACKAGE_OF: Record<string, string> = {
  sfdisk: 'fdisk',
  mcopy: 'mtools',
  mdir: 'mtools',
  debugfs: 'e2fsprogs',
  'dpkg-deb': 'dpkg',
  tar: 'tar',
  cp: 'coreutils',
};

export async function runImageTool(
  tool: string,
  args: readonly string[],
  options: { allowFailure?: boolean; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<ToolResult> {
  const result = await new Promise<ToolResult>((resolve, reject) => {
    const child = spawn(tool, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    child.stdin?.end(options.input);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    child.on('error', (cause) =>
      reject(
        new FleetcertError('image_tool_failed', `${tool} could not be started: ${cause.message}`, {
          cause,
          hint: `install it: apt-get install ${PACKAGE_OF[tool] ?? tool}`,
        }),
      ),
    );
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
  if (result.code !== 0 && !options.allowFailure) {
    throw new FleetcertError('image_tool_failed', `${tool} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result;
}
