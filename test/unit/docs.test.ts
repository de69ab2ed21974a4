/** Documentation that must stay true: every wire error code is in docs/PROTOCOL.md with its status. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { EXIT } from '#shared/cli/exit-codes.js';
import { MDNS_CONTRACT_VERSION, MDNS_SERVICE_NAME, MDNS_TXT } from '#shared/protocol/discovery.js';
import { ERROR_CODES } from '#shared/errors.js';
import { repoPath } from '../helpers/repo.js';

const doc = await readFile(repoPath('docs', 'PROTOCOL.md'), 'utf8');

test('docs/PROTOCOL.md lists every code the server sends, with the status it sends', () => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const status = (info as { status?: number }).status;
    if (status === undefined) continue;
    assert.match(doc, new RegExp(`\\| ${status} \\| \`${code}\` \\|`), `${code} (${status}) missing from docs/PROTOCOL.md`);
  }
});

test('docs/CLI.md lists every error code with the exit code it ends a command with', async () => {
  const cli = await readFile(repoPath('docs', 'CLI.md'), 'utf8');
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const exit = EXIT[info.exit];
    assert.match(cli, new RegExp(`\\| \`${code}\` \\| ${exit} \\|`), `${code} (exit ${exit}) missing from docs/CLI.md`);
  }
});

test('deploy/avahi/fleetcert.service announces what serve --mdns announces', async () => {
  const xml = await readFile(repoPath('deploy', 'avahi', 'fleetcert.service'), 'utf8');
  assert.match(xml, `<type>${MDNS_SERVICE_NAME}</type>`);
  assert.match(xml, '<port>8883</port>');
  assert.match(xml, `<txt-record>${MDNS_TXT.enrollPort}=8443</txt-record>`);
  assert.match(xml, `<txt-record>${MDNS_TXT.version}=${MDNS_CONTRACT_VERSION}</txt-record>`);
  assert.not.match(xml.replace(/<!--[\s\S]*?-->/, ''), /--/, 'no double hyphen outside the comment');
});

test.run();
