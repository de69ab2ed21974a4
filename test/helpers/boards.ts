/**
 * The identity files of real boards (test/fixtures/boards/<name>, mirroring / on that board),
 * for identity tests and for agents started with --identity-root.
 */
import { fileURLToPath } from 'node:url';

export type BoardName = 'rpi4-bookworm-arm64' | 'rpi3-bookworm-armhf' | 'orangepi-pc-armbian' | 'generic-x86';

/** dist/test/helpers -> the repository's test/fixtures/boards (fixtures are not compiled). */
export const BOARDS_DIR = fileURLToPath(new URL('../../../test/fixtures/boards/', import.meta.url));

export function boardRoot(name: BoardName): string {
  return `${BOARDS_DIR}${name}`;
}
