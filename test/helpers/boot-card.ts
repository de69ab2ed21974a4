/**
 * One board's own copy of a fleet's bootstrap file, as if the same image were flashed onto one
 * more SD card: the agent moves the token off its card after enrolling, so boards never share one
 * file. Synchronous so that argument builders can call it; made once per board.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function bootCard(dir: string, board: string, bootstrap: string): string {
  const card = join(dir, `card-${board}`, 'fleetcert.json');
  if (!existsSync(card)) {
    mkdirSync(join(dir, `card-${board}`), { recursive: true });
    copyFileSync(bootstrap, card);
  }
  return card;
}
