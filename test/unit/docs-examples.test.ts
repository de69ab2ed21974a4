/**
 * Examples in the docs that a new user copies: the device ids they promise are the ones real
 * boards yield (computed from the board fixtures, never typed by hand), the README's token
 * example admits the Raspberry Pis, and its `init` commands are alternatives, not a sequence.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { readBoardFacts } from '#agent/identity/board-facts.js';
import { DEFAULT_ID_TEMPLATE, deriveIdentity } from '#agent/identity/device-identity.js';
import { idMatchesPattern } from '#server/tokens/token-scope.js';
import { boardRoot, type BoardName } from '../helpers/boards.js';
import { repoPath } from '../helpers/repo.js';

const BOARDS: readonly BoardName[] = ['rpi4-bookworm-arm64', 'rpi3-bookworm-armhf', 'orangepi-pc-armbian', 'generic-x86'];

const idOf = async (board: BoardName) =>
  deriveIdentity({ facts: await readBoardFacts(boardRoot(board)), template: DEFAULT_ID_TEMPLATE, hostname: 'h', generated: undefined });

test('docs/OPERATIONS.md names the id each fixture board yields, and where its serial comes from', async () => {
  const doc = await readFile(repoPath('docs', 'OPERATIONS.md'), 'utf8');
  for (const board of BOARDS) {
    const { deviceId, serialSource } = await idOf(board);
    assert.match(doc, `| \`${board}\` | \`${deviceId}\` | ${serialSource} |`, `${board} yields ${deviceId}`);
  }
});

test("the README's token example admits the Raspberry Pis the README talks about", async () => {
  const readme = await readFile(repoPath('README.md'), 'utf8');
  const pattern = /fleetcert token create .*--id-pattern '([^']+)'/.exec(readme)?.[1];
  assert.ok(pattern, 'the README shows a token with --id-pattern');
  for (const board of ['rpi4-bookworm-arm64', 'rpi3-bookworm-armhf'] as const) {
    const { deviceId } = await idOf(board);
    assert.ok(idMatchesPattern(deviceId, pattern), `--id-pattern '${pattern}' refuses ${deviceId}`);
  }
  for (const id of readme.matchAll(/fleetcert (?:device \w+|renew-now) (rpi[\w-]+)/g)) {
    assert.is(id[1], (await idOf('rpi4-bookworm-arm64')).deviceId, 'README examples use an id a real Pi 4 yields');
  }
});

test("the README's init commands are alternatives: init runs once per data directory (a second run is ca_exists)", async () => {
  const readme = await readFile(repoPath('README.md'), 'utf8');
  const lines = readme.split('\n');
  const inits = lines.flatMap((line, i) => (line.startsWith('fleetcert init') ? [i] : []));
  assert.ok(inits.length >= 2);
  for (const i of inits.slice(1)) assert.match(lines[i - 1]!, /^# OR\b/, `README line ${i + 1} follows another init without "# OR"`);
});

test.run();
