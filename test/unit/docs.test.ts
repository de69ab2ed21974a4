/** Documentation that must stay true: every wire error code is in docs/PROTOCOL.md with its status. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../shared/errors.js';

const doc = await readFile(fileURLToPath(new URL('../../../docs/PROTOCOL.md', import.meta.url)), 'utf8');

test('docs/PROTOCOL.md lists every code the server sends, with the status it sends', () => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const status = (info as { status?: number }).status;
    if (status === undefined) continue;
    assert.match(doc, new RegExp(`\\| ${status} \\| \`${code}\` \\|`), `${code} (${status}) missing from docs/PROTOCOL.md`);
  }
});

test.run();
