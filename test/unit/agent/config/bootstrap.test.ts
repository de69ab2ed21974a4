import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAgentConfig } from '#agent/config/agent-config.js';
import { findBootstrap, parseBootstrap } from '#agent/config/bootstrap.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const good = {
  version: 1,
  token: `fct_abcdefghij_${'A'.repeat(43)}`,
  caFingerprint: 'a'.repeat(64),
  caCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

test('a bootstrap file saved on Windows (BOM, CRLF) is read, and its PEM normalised', () => {
  const text = '\uFEFF' + JSON.stringify(good, null, 2).replace(/\n/g, '\r\n').replace(/\\n/g, '\\r\\n');
  const parsed = parseBootstrap('/boot/fleetcert.json', text);
  assert.is(parsed.token, good.token);
  assert.is(parsed.caCertificate, good.caCertificate);
});

test('errors name the file and the field', async () => {
  const bad = await expectCode(
    () => parseBootstrap('/boot/firmware/fleetcert.json', JSON.stringify({ ...good, caFingerprint: 'xyz', token: 'secret' })),
    'bootstrap_invalid',
  );
  assert.match(bad.message, /^\/boot\/firmware\/fleetcert\.json: /);
  assert.match(bad.message, /token: must look like fct_<id>_<secret>/);
  assert.match(bad.message, /caFingerprint: must be 64 lowercase hex digits/);
  assert.not.match(bad.message, /secret"/, 'the value itself is not echoed');
  const json = await expectCode(() => parseBootstrap('/boot/fleetcert.json', '{"version": 1,'), 'bootstrap_invalid');
  assert.match(json.message, /^\/boot\/fleetcert\.json: not valid JSON/);
  assert.match(json.hint ?? '', /fleetcert token create/);
  const extra = await expectCode(
    () => parseBootstrap('/b.json', JSON.stringify({ ...good, enrollUrl: 'http://plain' })),
    'bootstrap_invalid',
  );
  assert.match(extra.message, /enrollUrl/);
});

test('the first existing file of the list wins; none is undefined', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'second.json'), JSON.stringify(good));
    const found = await findBootstrap([join(dir, 'first.json'), join(dir, 'second.json')]);
    assert.is(found?.path, join(dir, 'second.json'));
    assert.is(await findBootstrap([join(dir, 'nope.json')]), undefined);
  });
});

test('agent config: defaults, file, overrides; every problem with its path', async () => {
  await withTempDir(async (dir) => {
    await expectCode(() => loadAgentConfig(join(dir, 'absent.json'), {}), 'config_invalid'); // named but missing
    const file = join(dir, 'agent.json');
    await writeFile(file, JSON.stringify({ stateDir: '/data/fleetcert', keyType: 'ec-p384', idTemplate: 'plant3-{serial}' }));
    const config = await loadAgentConfig(file, { stateDir: '/override' });
    assert.is(config.stateDir, '/override');
    assert.is(config.keyType, 'ec-p384');
    assert.is(config.idTemplate, 'plant3-{serial}');
    assert.equal(config.bootstrapFiles, ['/boot/firmware/fleetcert.json', '/boot/fleetcert.json', '/etc/fleetcert/bootstrap.json']);
    await writeFile(file, JSON.stringify({ keyType: 'dsa', broker: 'nohost', unknownThing: 1 }));
    const err = await expectCode(() => loadAgentConfig(file, {}), 'config_invalid');
    assert.match(err.message, /keyType/);
    assert.match(err.message, /broker: must be host:port/);
    assert.match(err.message, /unknownThing/);
  });
});

test.run();
