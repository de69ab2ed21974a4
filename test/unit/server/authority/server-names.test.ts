import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NetworkInterfaceInfo } from 'node:os';
import { defaultServerNames, reservedServerIds } from '#server/authority/server-names.js';

const iface = (address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo =>
  ({ address, family, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null }) as NetworkInterfaceInfo;

test('<host>.local first, then host, localhost, every address but link-local IPv6; extras sorted by kind', () => {
  const names = defaultServerNames(
    {
      hostname: 'Broker-1.lan',
      interfaces: {
        lo: [iface('127.0.0.1', 'IPv4'), iface('::1', 'IPv6')],
        eth0: [iface('192.168.1.20', 'IPv4'), iface('fe80::1', 'IPv6'), iface('2001:db8::20', 'IPv6')],
      },
    },
    ['mqtt.example.net', '10.0.0.5', 'broker-1.local'],
  );
  assert.equal(names.dnsNames, ['broker-1.local', 'broker-1', 'localhost', 'mqtt.example.net']);
  assert.equal(names.ipAddresses, ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5']);
});

test('reserved server ids: the host name, its short form and .local, and every certificate name, lowercase', () => {
  const ids = reservedServerIds('Broker-1.lan', ['broker-1.local', 'MQTT.example.net', '10.0.0.5', '']);
  assert.equal([...ids].sort(), ['10.0.0.5', 'broker-1', 'broker-1.lan', 'broker-1.local', 'mqtt.example.net']);
});

test.run();
