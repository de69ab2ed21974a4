import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderBridgeConfig, type BridgeConfigInput } from '#agent/local-broker/bridge-config.js';
import { stateLayout } from '#agent/config/state-layout.js';
import { expectCode } from '../../../helpers/expect-error.js';

const layout = stateLayout('/var/lib/fleetcert-agent');
const input: BridgeConfigInput = {
  deviceId: 'rpi4-1000',
  broker: { host: '192.168.1.20', port: 8883, servername: 'broker.local' },
  trust: { kind: 'fleet-ca' },
  live: layout.live,
  listen: { bind: '127.0.0.1', port: 1883 },
  dataDir: layout.localBroker,
  user: 'fleetcert-agent',
  maxQueuedMessages: 10_000,
};

test('the bridge presents the live files as the device, maps topics under devices/<id>/, and carries the agent as $ topics', () => {
  const conf = renderBridgeConfig(input);
  for (const line of [
    'listener 1883 127.0.0.1',
    'address broker.local:8883',
    'remote_clientid rpi4-1000',
    'cleansession false',
    `bridge_certfile ${layout.live.chain}`,
    `bridge_keyfile ${layout.live.key}`,
    `bridge_cafile ${layout.live.ca}`,
    'notification_topic $fleetcert/devices/rpi4-1000/bridge',
    'topic # out 1 "" devices/rpi4-1000/',
    'topic status out 1 $fleetcert/ fleetcert/devices/rpi4-1000/',
    'topic command in 1 $fleetcert/ fleetcert/devices/rpi4-1000/',
    `persistence_location ${layout.localBroker}/`,
  ]) {
    assert.ok(conf.split('\n').includes(line), line);
  }
});

test('broker trust follows the bootstrap file: the system store, or a CA file', () => {
  assert.ok(renderBridgeConfig({ ...input, trust: { kind: 'system' } }).includes('\nbridge_capath /etc/ssl/certs\n'));
  const caFile = renderBridgeConfig({ ...input, trust: { kind: 'ca-file', path: '/etc/ssl/emqx.pem', caPem: '' } });
  assert.ok(caFile.includes('\nbridge_cafile /etc/ssl/emqx.pem\n'));
});

test('a value that would change the meaning of mosquitto.conf is refused (a broker name from mDNS is network input)', async () => {
  for (const host of ['evil.local\nlistener 1884 0.0.0.0', 'a b', 'x#y', 'q"q', '']) {
    await expectCode(() => renderBridgeConfig({ ...input, broker: { host, port: 8883 } }), 'local_broker_failed');
  }
  await expectCode(() => renderBridgeConfig({ ...input, dataDir: '/var/lib/with space' }), 'local_broker_failed');
  assert.ok(renderBridgeConfig({ ...input, broker: { host: 'fd00::1', port: 8883 } }).includes('\naddress [fd00::1]:8883\n'));
});

test.run();
