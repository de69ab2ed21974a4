import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectCode } from '../../../helpers/expect-error.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { agentConfigSchema } from '#agent/config/agent-config.js';
import {
  BROKER_INFO_VERSION,
  migrateBrokerInfo,
  readBrokerInfo,
  withExplicitEndpoints,
  writeBrokerInfo,
  type Endpoints,
} from '#agent/discovery/endpoints.js';

const saved: Endpoints = {
  enroll: { url: 'https://pi-gw.local:8443', servername: 'pi-gw.local' },
  broker: { host: 'pi-gw.local', port: 8883, servername: 'pi-gw.local' },
  source: 'mdns',
};
const files = { key: 'k', cert: 'c', chain: 'ch', ca: 'ca' };

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
    source: 'configured',
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
    await writeBrokerInfo(
      path,
      'dev-1',
      { enroll: { url: 'https://gw:8443' }, broker: { host: 'gw', port: 8883 }, source: 'configured' },
      { dir, ...files },
    );
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

test('a broker.json that pinned the address mDNS gave (before names were kept) is read as the name it came with', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'broker.json');
    const old = {
      version: 1,
      deviceId: 'rpi4-1',
      broker: { host: '192.168.1.20', port: 8883, servername: 'pi-gw.local' },
      enroll: { url: 'https://192.168.1.20:8443', servername: 'pi-gw.local' },
      files,
    };
    await writeFile(path, JSON.stringify(old));
    const read = await readBrokerInfo(path);
    assert.equal(read?.broker, { host: 'pi-gw.local', port: 8883, servername: 'pi-gw.local' });
    assert.equal(read?.enroll, { url: 'https://pi-gw.local:8443', servername: 'pi-gw.local' });
    assert.is(read?.source, 'mdns');
    const ipv6 = { ...old, enroll: { url: 'https://[fd00::20]:8443', servername: 'pi-gw.local' } };
    assert.is(migrateBrokerInfo(ipv6).enroll.url, 'https://pi-gw.local:8443');
  });
});

test('a configured broker.json (an explicit URL, an address on purpose) is left as it is', () => {
  const configured = {
    deviceId: 'd',
    broker: { host: '10.0.0.5', port: 8883, servername: 'gw.example' },
    enroll: { url: 'https://10.0.0.5:8443' },
    files,
  };
  assert.equal(migrateBrokerInfo(configured), { ...configured, source: 'configured' });
});

test.run();
