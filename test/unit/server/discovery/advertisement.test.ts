/** What serve announces over mDNS, on which interface, and the avahi file: pure, from fixed interface snapshots. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import type { NetworkInterfaceInfo } from 'node:os';
import { advertisedInterfaces } from '#server/discovery/advertised-interfaces.js';
import { answerQuery, brokerRecords } from '#server/discovery/broker-records.js';
import { avahiOwnsHost, renderAvahiService } from '#server/discovery/avahi-service.js';
import { repoPath } from '../../../helpers/repo.js';

const v4 = (address: string, cidr: string, internal = false) =>
  ({ address, cidr, family: 'IPv4', internal, netmask: '', mac: '02:00:00:00:00:01' }) as NetworkInterfaceInfo;
const v6 = (address: string) =>
  ({
    address,
    cidr: `${address}/64`,
    family: 'IPv6',
    internal: false,
    netmask: '',
    mac: '02:00:00:00:00:01',
    scopeid: 2,
  }) as NetworkInterfaceInfo;

const snapshot = {
  lo: [v4('127.0.0.1', '127.0.0.1/8', true)],
  eth0: [v4('192.168.1.20', '192.168.1.20/24'), v6('fe80::1'), v6('fd00::20')],
  wlan0: [v4('10.0.5.1', '10.0.5.1/24')],
  // Up, before DHCP: only its automatic link-local address.
  eth1: [v6('fe80::2')],
};

test('every up interface with IPv4, loopback left out, fe80:: never announced, an interface without IPv4 not yet', () => {
  assert.equal(advertisedInterfaces(snapshot, []), [
    { name: 'eth0', socketAddress: '192.168.1.20', subnets: ['192.168.1.20/24'], addresses: ['192.168.1.20', 'fd00::20'] },
    { name: 'wlan0', socketAddress: '10.0.5.1', subnets: ['10.0.5.1/24'], addresses: ['10.0.5.1'] },
  ]);
});

test('--mdns-interface: only those named, loopback too when named', () => {
  assert.equal(
    advertisedInterfaces(snapshot, ['wlan0', 'lo']).map((i) => i.name),
    ['lo', 'wlan0'],
  );
  assert.equal(advertisedInterfaces(snapshot, ['eth9']), [], 'a named interface that is not up: nothing yet');
});

const service = { name: 'fleetcert broker on pi-gw', host: 'pi-gw.local', brokerPort: 8883, enrollPort: 8443 };

test('a browse (PTR) is answered with the instance, and SRV, TXT and this interface`s addresses as additionals', () => {
  const answer = answerQuery(brokerRecords(service, ['192.168.1.20']), [{ name: '_secure-mqtt._tcp.local', type: 'PTR' }])!;
  assert.equal(
    answer.answers.map((r) => [r.type, r.data]),
    [['PTR', 'fleetcert broker on pi-gw._secure-mqtt._tcp.local']],
  );
  assert.equal(
    answer.additionals.map((r) => r.type),
    ['SRV', 'TXT', 'A'],
  );
  assert.equal(answer.additionals[1]!.data, ['fleetcert=8443', 'v=1']);
  assert.ok(
    answer.additionals.every((r) => r.flush),
    'unique records flush stale caches',
  );
});

test('a host lookup (A) is answered with the address only; a question for another name is not answered', () => {
  const records = brokerRecords(service, ['192.168.1.20', 'fd00::20']);
  assert.equal(
    answerQuery(records, [{ name: 'PI-GW.local', type: 'A' }])!.answers.map((r) => r.data),
    ['192.168.1.20'],
  );
  assert.is(answerQuery(records, [{ name: 'other.local', type: 'A' }]), undefined);
});

test('the avahi service file: the same contract; <host-name> only when the broker is not avahi`s own name', async () => {
  const own = renderAvahiService({ brokerPort: 8883, enrollPort: 8443, host: 'pi-gw.local', systemHostname: 'pi-gw' });
  const group = (xml: string) => xml.slice(xml.indexOf('<service-group>'));
  assert.is(group(own), group(await readFile(repoPath('deploy', 'avahi', 'fleetcert.service'), 'utf8')), 'deploy/ ships the default');
  assert.not.match(own, '<host-name>');
  const other = renderAvahiService({ brokerPort: 18883, enrollPort: 9443, host: 'mqtt.plant3.local', systemHostname: 'pi-gw.lan' });
  assert.match(other, '<host-name>mqtt.plant3.local</host-name>');
  assert.match(other, '<port>18883</port>');
  assert.match(other, '<txt-record>fleetcert=9443</txt-record>');
  assert.ok(avahiOwnsHost({ host: 'PI-GW.local', systemHostname: 'pi-gw.example.com' }));
});

test.run();
