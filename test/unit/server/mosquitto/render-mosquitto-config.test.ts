/**
 * The rendered Mosquitto files against golden files (test/golden/mosquitto/), and the password
 * line against mosquitto_passwd itself. Set FLEETCERT_UPDATE_GOLDEN=1 to rewrite the golden
 * files after an intended change, then review the diff.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brokerFiles } from '#server/mosquitto/broker-files.js';
import { passwordFileLine } from '#server/mosquitto/password-file.js';
import { renderAcl, renderAdminAcl, renderMosquittoConfig } from '#server/mosquitto/render-mosquitto-config.js';
import { run } from '../../../helpers/run.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { repoPath } from '../../../helpers/repo.js';

const GOLDEN = repoPath('test', 'golden', 'mosquitto');

async function golden(name: string, actual: string): Promise<void> {
  const path = join(GOLDEN, name);
  if (process.env.FLEETCERT_UPDATE_GOLDEN === '1') await writeFile(path, actual);
  assert.fixture(actual, await readFile(path, 'utf8'));
}

test('fleetcert.conf matches its golden file', async () => {
  const conf = renderMosquittoConfig({
    files: brokerFiles('/etc/mosquitto/fleetcert'),
    bind: '',
    port: 8883,
    adminPort: 8884,
    version: '0.0.0-golden',
  });
  await golden('fleetcert.conf', conf);
  // Order matters to Mosquitto: per_listener_settings before any security option.
  assert.ok(conf.indexOf('per_listener_settings true') < conf.indexOf('allow_anonymous'));
});

test('acl and admin.acl match their golden files', async () => {
  await golden('acl', renderAcl());
  await golden('admin.acl', renderAdminAcl());
});

test('acl with services matches its golden file: one user block each, read and write lines as granted', async () => {
  const acl = renderAcl([
    { commonName: 'service:nodered', read: ['devices/+/status', 'devices/+/temp'], write: ['devices/+/cmd/#'] },
    { commonName: 'service:telegraf', read: ['devices/#'], write: [] },
  ]);
  await golden('acl-with-services', acl);
  assert.ok(acl.startsWith(renderAcl()), "the devices' and the server's rules come first, unchanged");
});

test('the $7$ line is byte-identical to what mosquitto_passwd writes for the same salt', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'passwd');
    const res = await run('mosquitto_passwd', ['-c', '-b', file, 'fleetcert-admin', 'correct horse battery']);
    assert.is(res.code, 0, res.stderr);
    const theirs = await readFile(file, 'utf8');
    const salt = Buffer.from(theirs.split('$')[3]!, 'base64');
    assert.is(salt.length, 12);
    assert.is(passwordFileLine('fleetcert-admin', 'correct horse battery', salt), theirs);
  });
});

test.run();
