/**
 * Paths in the repository, for tests compiled to dist/test: docs, fixtures, scripts, golden files.
 * Compiled files sit one level deeper than their sources, so every test asks here instead of
 * counting `../` itself.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/helpers -> the repository root (with a trailing separator). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}
