/**
 * serve renews its own TLS certificates (the EST endpoint's and the broker's) before they expire:
 * with a 9-second lifetime a device connected to the broker lives through several renewals of
 * both, new handshakes meet the new certificates, and the device still enrolls and renews.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect as tlsConnect } from 'node:tls';
import { EST_PATHS } from '#shared/protocol/est.js';
import { deviceCsr, enrollDevice, est } from '../helpers/est-client.js';
import { startFleetWithBroker } from '../helpers/fleet-broker.js';
import { serverEvents, waitForEvent } from '../helpers/fleet-server.js';
import { connectDevice, nextMessage } from '../helpers/mqtt-device.js';
import { withTempDir } from '../helpers/temp-dir.js';

/** The serial a TLS server presents now, in the registry's spelling (lowercase, no leading zeros). */
function presentedSerial(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(normal(serial));
    });
    socket.on('error', reject);
  });
}

const normal = (serial: string) => serial.toLowerCase().replace(/^0+/, '');

function renewals(logs: () => string, which: 'endpoint' | 'broker'): string[] {
  return serverEvents({ logs })
    .filter((e) => e.event === 'server_tls_renewed' && e.which === which)
    .map((e) => normal(String(e.serial)));
}

test('a device connected across two renewals of both server certificates stays connected; new handshakes meet the new ones', async () => {
  await withTempDir(async (dir) => {
    const fleet = await startFleetWithBroker(dir, ['--server-cert-lifetime', '9s']);
    const logs = () => fleet.server.logs();
    let client;
    try {
      // init's certificates (a year) outlive what serve is told to issue: both are replaced at start.
      assert.is(renewals(logs, 'endpoint').length, 1);
      assert.is(renewals(logs, 'broker').length, 1);
      const server = { port: fleet.server.port, rootPem: fleet.server.rootPem };
      const device = await enrollDevice(server, fleet.token, 'dev-tls');
      let closes = 0;
      client = await connectDevice(device, { caPem: fleet.caPem, port: fleet.brokerPort, reconnectPeriod: 300 });
      client.on('close', () => (closes += 1));
      await client.subscribeAsync('devices/dev-tls/echo', { qos: 1 });
      const firstBroker = await presentedSerial(fleet.brokerPort, fleet.caPem);
      assert.is(firstBroker, renewals(logs, 'broker')[0]);

      await waitForEvent({ logs }, 'server_tls_renewed', { count: 6, timeoutMs: 30_000 });
      const broker = renewals(logs, 'broker');
      const endpoint = renewals(logs, 'endpoint');
      assert.ok(broker.length >= 3 && endpoint.length >= 3, `renewals: broker ${broker.length}, endpoint ${endpoint.length}`);
      assert.is(new Set(broker).size, broker.length, 'a new certificate each time');

      // The connection made before the renewals still carries messages (Mosquitto keeps sessions on reload).
      assert.ok(client.connected, `connected (closed ${closes} times)`);
      assert.is(closes, 0, 'never dropped');
      const echo = nextMessage(client);
      await client.publishAsync('devices/dev-tls/echo', 'still here', { qos: 1 });
      assert.is((await echo).payload, 'still here');

      // New handshakes meet the renewed certificates, verified against the CA alone.
      const nowBroker = await presentedSerial(fleet.brokerPort, fleet.caPem);
      assert.is.not(nowBroker, firstBroker);
      assert.ok(broker.slice(-2).includes(nowBroker), 'the broker presents one of the latest certificates');
      const nowEndpoint = await presentedSerial(fleet.server.port, fleet.server.rootPem);
      assert.ok(endpoint.slice(-2).includes(nowEndpoint), 'the endpoint presents one of the latest certificates');
      assert.is.not(nowEndpoint, endpoint[0]);

      // And the device renews over mutual TLS with the renewed endpoint.
      const csr = await deviceCsr('dev-tls');
      const renewed = await est(server, {
        path: EST_PATHS.simpleReenroll,
        contentType: 'application/pkcs10',
        body: csr.body,
        cert: device.chainPem,
        key: device.keyPem,
      });
      assert.is(renewed.status, 200, renewed.body);
      assert.not.ok(serverEvents({ logs }).some((e) => e.event === 'server_tls_renewal_failed'));
    } finally {
      await client?.endAsync(true).catch(() => undefined);
      await fleet.stop();
    }
  });
});

test.run();
