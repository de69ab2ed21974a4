/**
 * Paths `fleetcert image bake` uses outside the image: the cache of downloaded Node runtimes
 * (outside any clone, reused between bakes), and where `npm run package` leaves the agent's .deb.
 */
import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function nodeCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.FLEETCERT_CACHE_DIR) return join(env.FLEETCERT_CACHE_DIR, 'node');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fleetcert', 'node');
}

/** dist/packages of the tree this server runs from (this file is dist/server/config/). */
const PACKAGES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages');

/** The agent .deb `npm run package` built beside this server, if there is one. */
export async function builtAgentPackage(): Promise<string | undefined> {
  const names = await readdir(PACKAGES_DIR).catch(() => [] as string[]);
  const debs = names.filter((n) => /^fleetcert-agent_.*_all\.deb$/.test(n)).sort();
  return debs.length === 0 ? undefined : join(PACKAGES_DIR, debs[debs.length - 1]!);
}
