import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectCode } from '../../../helpers/expect-error.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { agentConfigSchema } from '#agent/config/agent-config.js';
import { BROKER_INFO_VERSION, readBrokerInfo, withExplicitEndpoints, writeBrokerInfo } from '#agent/discovery/endpoints.js';

const saved = {
  enroll: { url: 'https://192.168.1.20:8443', servername: 'pi-gw.local' },
  broker: { host: '192.168.1.20', port: 8883, servername: 'pi-gw.local' },
};

test('saved endpoints are used as they are when nothing is configured', () => {
  assert.equal(withExplicitEndpoints(saved, agentConfigSchema.parse({})), saved);
});

test('an explicit broker or enrollment URL replaces the saved one (the broker moved)', () => {
  const config = agentConfigSchema.parse({
    broker: '10.0.0.5:8884',
    brokerServername: 'mqtt.plant3.example',
    enrollUrl: 'https://enroll.plant3.example:9443/',
  });
  assert.equal(withExplicitEndpoints(saved, config), {
    enroll: { url: 'https://enroll.plant3.example:9443' },
    broker: { host: '10.0.0.5', port: 8884, servername: 'mqtt.plant3.example' },
  });
  assert.equal(withExplicitEndpoints(saved, agentConfigSchema.parse({ broker: '[fd00::5]:8883' })).broker, {
    host: 'fd00::5',
    port: 8883,
    servername: undefined,
  });
});

test('broker.json carries "version": 1; a file without it still reads; a newer version is refused with a clear message', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'broker.json');
    const files = { dir, key: 'k', cert: 'c', chain: 'ch', ca: 'ca' };
    await writeBrokerInfo(path, 'dev-1', { enroll: { url: 'https://gw:8443' }, broker: { host: 'gw', port: 8883 } }, files);
    const written = JSON.parse(await readFile(path, 'utf8'));
    assert.is(written.version, BROKER_INFO_VERSION);
    assert.is(BROKER_INFO_VERSION, 1);
    delete written.version;
    await writeFile(path, JSON.stringify(written));
    assert.is((await readBrokerInfo(path))?.deviceId, 'dev-1', 'a file from before versions');
    await writeFile(path, JSON.stringify({ ...written, version: 2 }));
    const err = await expectCode(() => readBrokerInfo(path), 'config_invalid');
    assert.match(err.message, /format version 2; this agent reads version 1/);
  });
});

test.run();
