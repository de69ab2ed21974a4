/**
 * The agent as it is installed on a board: the files of the `fleetcert-agent_<version>_all.deb`
 * that `npm run package` builds (bundle, /usr/bin wrapper, systemd units, conffile, docs), so a
 * baked image holds exactly what `apt install` would have put there. Unpacked with `dpkg-deb`.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { runImageTool } from './run-image-tool.js';

export interface PackageEntry {
  /** Absolute path on the board. */
  readonly path: string;
  readonly local: string;
  readonly kind: 'file' | 'symlink';
  readonly mode: number;
  readonly size: number;
  readonly target: string | undefined;
}

export interface AgentPackage {
  readonly name: string;
  readonly version: string;
  readonly entries: readonly PackageEntry[];
}

export async function unpackAgentPackage(deb: string, workDir: string): Promise<AgentPackage> {
  const fields = await runImageTool('dpkg-deb', ['--field', deb, 'Package', 'Version'], { allowFailure: true });
  const name = /^Package: (.*)$/m.exec(fields.stdout)?.[1];
  const version = /^Version: (.*)$/m.exec(fields.stdout)?.[1];
  if (fields.code !== 0 || name !== 'fleetcert-agent' || !version) {
    throw new FleetcertError('image_invalid', `${deb} is not the fleetcert-agent package (${fields.stderr.trim() || `Package: ${name}`})`, {
      hint: 'build it with "npm run package" (dist/packages/fleetcert-agent_<version>_all.deb) and pass it with --agent',
    });
  }
  const root = join(workDir, 'agent');
  await runImageTool('dpkg-deb', ['-x', deb, root]);
  const entries: PackageEntry[] = [];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    const local = join(e.parentPath, e.name);
    const st = await lstat(local);
    if (!st.isFile() && !st.isSymbolicLink()) continue;
    entries.push({
      path: `/${relative(root, local)}`,
      local,
      kind: st.isFile() ? 'file' : 'symlink',
      mode: st.mode & 0o7777,
      size: st.size,
      target: st.isSymbolicLink() ? await readlink(local) : undefined,
    });
  }
  entries.sort((a, b) => a.path.localeCompare(b.path));
  return { name, version, entries };
}
