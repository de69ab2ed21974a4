import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseService } from '#agent/discovery/discover-broker.js';

const service = (over: Record<string, unknown> = {}) =>
  ({
    host: 'pi-gw.local',
    port: 8883,
    txt: { fleetcert: '8443', v: '1' },
    addresses: ['fe80::1', '192.168.1.20'],
    referer: { address: '192.168.1.20' },
    ...over,
  }) as never;

test('a fleetcert record: IPv4 preferred, SRV host kept for certificate checks', () => {
  assert.equal(parseService(service()), { host: 'pi-gw.local', address: '192.168.1.20', brokerPort: 8883, enrollPort: 8443 });
  assert.equal(parseService(service({ addresses: [], host: 'pi-gw.local.' })), {
    host: 'pi-gw.local',
    address: '192.168.1.20',
    brokerPort: 8883,
    enrollPort: 8443,
  });
});

test('records without a usable fleetcert TXT, port or address are ignored', () => {
  assert.is(parseService(service({ txt: {} })), undefined, 'some other secure-mqtt broker');
  assert.is(parseService(service({ txt: { fleetcert: 'https://x' } })), undefined);
  assert.is(parseService(service({ txt: { fleetcert: '70000' } })), undefined);
  assert.is(parseService(service({ port: 0 })), undefined);
  assert.is(parseService(service({ addresses: ['not-an-ip'], referer: undefined })), undefined);
});

test.run();
