/**
 * The identity files of real boards (test/fixtures/boards/<name>, mirroring / on that board),
 * for identity tests and for agents started with --identity-root.
 */
import { join } from 'node:path';
import { repoPath } from './repo.js';

export type BoardName = 'rpi4-bookworm-arm64' | 'rpi3-bookworm-armhf' | 'orangepi-pc-armbian' | 'generic-x86';

/** The repository's test/fixtures/boards (fixtures are not compiled). */
export const BOARDS_DIR = repoPath('test', 'fixtures', 'boards');

export function boardRoot(name: BoardName): string {
  return join(BOARDS_DIR, name);
}
