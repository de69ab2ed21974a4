import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseService } from '#agent/discovery/discover-broker.js';
import { usableAddresses, type LocalNetwork } from '#agent/discovery/usable-addresses.js';

/** A board at 192.168.1.50/24. */
const board: LocalNetwork = { addresses: ['127.0.0.1', '192.168.1.50', 'fe80::50'], subnets: ['127.0.0.1/8', '192.168.1.50/24'] };

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
  assert.equal(parseService(service(), board), { host: 'pi-gw.local', address: '192.168.1.20', brokerPort: 8883, enrollPort: 8443 });
  assert.equal(parseService(service({ addresses: [], host: 'pi-gw.local.' }), board), {
    host: 'pi-gw.local',
    address: '192.168.1.20',
    brokerPort: 8883,
    enrollPort: 8443,
  });
});

test('records without a usable fleetcert TXT, port or address are ignored', () => {
  assert.is(parseService(service({ txt: {} }), board), undefined, 'some other secure-mqtt broker');
  assert.is(parseService(service({ txt: { fleetcert: 'https://x' } }), board), undefined);
  assert.is(parseService(service({ txt: { fleetcert: '70000' } }), board), undefined);
  assert.is(parseService(service({ port: 0 }), board), undefined);
  assert.is(parseService(service({ addresses: ['not-an-ip'], referer: undefined }), board), undefined);
});

test('a server that had only an unscoped link-local address (before DHCP) is not chosen', () => {
  assert.is(parseService(service({ addresses: ['fe80::1'], referer: { address: '169.254.7.7' } }), board), undefined);
});

test('unusable addresses are left out: unscoped fe80::, loopback from another host, other segments when one is on-link', () => {
  assert.equal(usableAddresses(['fe80::1', '127.0.1.1', '10.9.0.1', '192.168.1.20', 'fd00::20'], '192.168.1.20', board), [
    '192.168.1.20',
    'fd00::20',
  ]);
  assert.equal(usableAddresses(['10.9.0.1', 'fd00::20'], '10.9.0.1', board), ['10.9.0.1', 'fd00::20'], 'nothing on-link: all kept');
  assert.equal(usableAddresses(['127.0.0.1'], '127.0.0.1', board), ['127.0.0.1'], 'loopback from this host itself');
  assert.equal(usableAddresses(['127.0.0.1'], '192.168.1.50', board), ['127.0.0.1'], 'answered from one of our own addresses');
  assert.equal(usableAddresses(['fe80::1%eth0'], '192.168.1.20', board), ['fe80::1%eth0'], 'a scoped link-local address is fine');
});

test.run();
