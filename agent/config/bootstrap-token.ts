/**
 * Where the fleet token is: in the agent's state directory once the first enrollment moved it
 * there (the copy is what the expired-certificate fallback uses), or still in a bootstrap file
 * on the boot partition (before the first enrollment, or when that partition is read-only).
 */
import { parseBootstrap, readBootstrapFiles, readBootstrapText, type FoundBootstrap } from './bootstrap.js';
import type { StateLayout } from './state-layout.js';

/** `boot_partition` whenever a bootstrap file still holds it, even if the state copy exists too: that is the exposure. */
export type TokenLocation = 'boot_partition' | 'state_dir' | 'none';

export interface FoundToken extends FoundBootstrap {
  readonly location: Exclude<TokenLocation, 'none'>;
}

/** The token to enroll with: the state copy first, else the first bootstrap file that still holds one. */
export async function findToken(layout: StateLayout, bootstrapFiles: readonly string[]): Promise<FoundToken | undefined> {
  const copy = await readStateCopy(layout);
  if (copy) return copy;
  for (const { path, file } of await readBootstrapFiles(bootstrapFiles)) {
    if ('token' in file) return { path, bootstrap: file, location: 'boot_partition' };
  }
  return undefined;
}

/** Where the token lives, for `status`: the path of each copy that exists. */
export async function locateToken(
  layout: StateLayout,
  bootstrapFiles: readonly string[],
): Promise<{ location: TokenLocation; paths: string[] }> {
  const onBoot = (await readBootstrapFiles(bootstrapFiles)).filter(({ file }) => 'token' in file).map(({ path }) => path);
  const copy = await readStateCopy(layout);
  const paths = [...onBoot, ...(copy ? [copy.path] : [])];
  return { location: onBoot.length > 0 ? 'boot_partition' : copy ? 'state_dir' : 'none', paths };
}

async function readStateCopy(layout: StateLayout): Promise<FoundToken | undefined> {
  const text = await readBootstrapText(layout.bootstrapCopy);
  if (text === undefined) return undefined;
  return { path: layout.bootstrapCopy, bootstrap: parseBootstrap(layout.bootstrapCopy, text), location: 'state_dir' };
}
