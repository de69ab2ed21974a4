/** The EMQX files against golden files (test/golden/emqx/); FLEETCERT_UPDATE_GOLDEN=1 rewrites them. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderEmqxAcl, renderEmqxSettings } from '#server/emqx/render-emqx-config.js';
import { emqxFiles } from '#server/mosquitto/broker-files.js';
import { repoPath } from '../../../helpers/repo.js';

const GOLDEN = repoPath('test', 'golden', 'emqx');

async function golden(name: string, actual: string): Promise<void> {
  const path = join(GOLDEN, name);
  if (process.env.FLEETCERT_UPDATE_GOLDEN === '1') await writeFile(path, actual);
  assert.fixture(actual, await readFile(path, 'utf8'));
}

test('emqx-fleetcert.conf: client certificate required, CN as username and client id, file ACL, no_match deny', async () => {
  const conf = renderEmqxSettings({ files: emqxFiles('/etc/emqx/fleetcert'), bind: '', port: 8883, version: '0.0.0-golden' });
  await golden('emqx-fleetcert.conf', conf);
  for (const line of ['verify = verify_peer', 'fail_if_no_peer_cert = true', 'peer_cert_as_username = cn', 'no_match = deny']) {
    assert.ok(conf.includes(line), line);
  }
});

test('acl.conf: the Mosquitto rules with ${username} for %u, each service its grants, then deny', async () => {
  const acl = renderEmqxAcl([{ commonName: 'service:nodered', read: ['devices/+/status'], write: ['devices/+/cmd/#'] }]);
  await golden('acl.conf', acl);
  assert.not.ok(acl.includes('%u'));
  assert.ok(acl.includes('{allow, all, all, ["devices/${username}/#"]}.'));
  assert.ok(acl.includes('{allow, {username, "service:nodered"}, publish, ["devices/+/cmd/#"]}.'));
  assert.ok(acl.trimEnd().endsWith('{deny, all}.'));
});

test.run();
