/**
 * A real Node 18 (the runtime of Raspberry Pi OS / Debian 12 Bookworm) for the agent tests:
 * the official binary from the npm registry package node-linux-<arch>@18.20.8, installed once
 * into node_modules/.cache. A failure to install is a test failure, never a skip.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './repo.js';

const VERSION = '18.20.8';
const ROOT = REPO_ROOT;
const CACHE = join(ROOT, 'node_modules', '.cache', 'fleetcert-node18');

export async function node18(): Promise<string> {
  const arch = { x64: 'x64', arm64: 'arm64', arm: 'armv7l' }[process.arch as string];
  if (!arch) throw new Error(`no Node 18 package for ${process.arch}`);
  const pkg = `node-linux-${arch}`;
  const binary = join(CACHE, 'node_modules', pkg, 'bin', 'node');
  if (
    await access(binary).then(
      () => true,
      () => false,
    )
  )
    return binary;
  await new Promise<void>((resolve, reject) => {
    execFile(
      'npm',
      ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', CACHE, `${pkg}@${VERSION}`],
      { timeout: 180_000 },
      (err, _out, stderr) =>
        err ? reject(new Error(`could not install ${pkg}@${VERSION} from the npm registry: ${stderr || err.message}`)) : resolve(),
    );
  });
  return binary;
}
