/**
 * Backend consumers on the real broker: `fleetcert service issue` grants a service topics, and
 * Mosquitto lets it read what it was granted and nothing else, write where it was granted and
 * nowhere else; `broker-config` keeps the grants; `service revoke` ends its session and its
 * certificate no longer connects. And no device can ever get a service identity through EST.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type mqtt from 'mqtt';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, enrollDevice, est } from '../helpers/est-client.js';
import { startFleetWithBroker, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { initDataDir } from '../helpers/fleet-server.js';
import { connectDevice } from '../helpers/mqtt-device.js';
import { openssl } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';

/** Mosquitto acts on SIGHUP in its own loop. */
const settle = () => new Promise((r) => setTimeout(r, 400));

/** Every message `client` receives until one arrives on `marker`; resolves with the topics before it. */
function topicsUntil(client: mqtt.MqttClient, marker: string, timeoutMs = 5_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => reject(new Error(`no message on ${marker} within ${timeoutMs} ms; saw ${seen.join(', ')}`)), timeoutMs);
    client.on('message', function onMessage(topic: string) {
      if (topic !== marker) return void seen.push(topic);
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(seen);
    });
  });
}

async function serviceCli(fleet: FleetWithBroker, args: readonly string[]) {
  const { dataDir, passphraseFile } = fleet.server;
  const passphrase = args[0] === 'list' ? [] : ['--passphrase-file', passphraseFile];
  return fleetcert(['service', ...args, '--data-dir', dataDir, ...passphrase, '--json']);
}

test('a service reads what it was granted and nothing else, writes only where granted; revoked, it is cut off', async () => {
  await withTempDir(async (dir) => {
    const fleet = await startFleetWithBroker(dir);
    const clients: mqtt.MqttClient[] = [];
    try {
      const server = { port: fleet.server.port, rootPem: fleet.server.rootPem };
      const [devA, devB] = [await enrollDevice(server, fleet.token, 'dev-a'), await enrollDevice(server, fleet.token, 'dev-b')];
      const issued = await serviceCli(fleet, [
        'issue',
        'telegraf',
        '--read',
        'devices/+/temp',
        '--write',
        'devices/+/cmd',
        '--out-dir',
        join(dir, 'telegraf'),
      ]);
      assert.is(issued.code, 0, issued.stderr);
      const out = JSON.parse(issued.stdout);
      assert.is(out.commonName, 'service:telegraf');
      assert.is(out.reloaded, 'ACL written, Mosquitto reloaded');
      assert.is((await stat(join(dir, 'telegraf', 'key.pem'))).mode & 0o777, 0o600);
      const text = await openssl(['x509', '-in', join(dir, 'telegraf', 'cert.pem'), '-noout', '-subject', '-ext', 'extendedKeyUsage']);
      assert.match(text, /CN ?= ?service:telegraf/);
      assert.match(text, /TLS Web Client Authentication/);

      // broker-config run again (as after an upgrade) renders the grants too.
      const again = await fleetcert([
        'broker-config',
        ...['--data-dir', fleet.server.dataDir, '--passphrase-file', fleet.server.passphraseFile, '--out', fleet.outDir],
        ...['--port', String(fleet.brokerPort), '--bind', '127.0.0.1', '--admin-port', String(fleet.adminPort), '--host', 'localhost'],
        ...['--reload-pid-file', join(dir, 'run', 'mosquitto.pid'), '--json'],
      ]);
      assert.is(again.code, 0, again.stderr);
      const acl = await readFile(join(fleet.outDir, 'acl'), 'utf8');
      assert.match(acl, /\nuser service:telegraf\ntopic read devices\/\+\/temp\ntopic write devices\/\+\/cmd\n/);
      await settle();

      const creds = {
        chainPem: await readFile(join(dir, 'telegraf', 'cert.pem'), 'utf8'),
        keyPem: await readFile(join(dir, 'telegraf', 'key.pem'), 'utf8'),
      };
      const connect = async (c: { chainPem: string; keyPem: string }) => {
        const client = await connectDevice(c, { caPem: fleet.caPem, port: fleet.brokerPort });
        clients.push(client);
        return client;
      };
      const service = await connect(creds);
      const a = await connect(devA);
      const b = await connect(devB);
      await service.subscribeAsync('#', { qos: 1 });
      await b.subscribeAsync('devices/dev-b/#', { qos: 1 });

      // Reads: of everything dev-a publishes, only the granted topic reaches the service.
      const read = topicsUntil(service, 'devices/dev-a/temp');
      await a.publishAsync('devices/dev-a/secret', 'x', { qos: 1 });
      await a.publishAsync('fleetcert/devices/dev-a/status', '{}', { qos: 1 });
      await a.publishAsync('devices/dev-a/temp', '21.5', { qos: 1 });
      assert.equal(await read, [], 'nothing but the granted topic');

      // Writes: only the granted topic reaches dev-b; the rest is dropped by the broker.
      const written = topicsUntil(b, 'devices/dev-b/cmd');
      await service.publishAsync('devices/dev-b/other', 'x', { qos: 0 });
      await service.publishAsync('devices/dev-b/cmd/deeper', 'x', { qos: 0 });
      await service.publishAsync('fleetcert/devices/dev-b/command', '{"type":"renew"}', { qos: 0 });
      await service.publishAsync('devices/dev-b/cmd', 'reboot', { qos: 1 });
      assert.equal(await written, []);

      // Revoked: the live session ends, the grants leave the ACL, the certificate no longer connects.
      const closed = new Promise<void>((r) => service.once('close', () => r()));
      const revoked = await serviceCli(fleet, ['revoke', 'telegraf']);
      assert.is(revoked.code, 0, revoked.stderr);
      assert.equal(JSON.parse(revoked.stdout).revokedSerials, [out.serial]);
      assert.ok(JSON.parse(revoked.stdout).sessionEnded);
      await closed;
      assert.not.match(await readFile(join(fleet.outDir, 'acl'), 'utf8'), /service:telegraf/);
      await connect(creds).then(
        () => assert.unreachable('a revoked service certificate connected'),
        () => undefined,
      );
      const renewRevoked = await serviceCli(fleet, ['renew', 'telegraf', '--out-dir', join(dir, 'telegraf2')]);
      assert.is.not(renewRevoked.code, 0, 'a revoked service is not renewed');
      const list = JSON.parse((await serviceCli(fleet, ['list'])).stdout);
      assert.equal(
        list.services.map((s: { name: string; status: string }) => [s.name, s.status]),
        [['telegraf', 'revoked']],
      );
    } finally {
      for (const c of clients) await c.endAsync(true).catch(() => undefined);
      await fleet.stop();
    }
  });
});

test('no device obtains a service identity: EST refuses a CSR for service:<name> (id_invalid); grants are checked', async () => {
  await withTempDir(async (dir) => {
    const fleet = await startFleetWithBroker(dir);
    try {
      const server = { port: fleet.server.port, rootPem: fleet.server.rootPem };
      const csr = await deviceCsr('service:telegraf');
      const res = await est(server, {
        path: EST_PATHS.simpleEnroll,
        token: fleet.token,
        contentType: 'application/pkcs10',
        body: csr.body,
      });
      assert.is(res.status, 400, res.body);
      assert.is(res.json?.code, 'id_invalid');
      // A grant that would smuggle a second ACL line in, or write to fleetcert's control topics, is refused before anything is written.
      for (const grant of [
        ['--read', 'devices/#\nuser fleetcert-server'],
        ['--write', 'fleetcert/devices/+/command'],
      ]) {
        const refused = await serviceCli(fleet, ['issue', 'evil', ...grant, '--out-dir', join(dir, 'evil')]);
        assert.is.not(refused.code, 0);
      }
      assert.equal(JSON.parse((await serviceCli(fleet, ['list'])).stdout).services, []);
      assert.not.match(await readFile(join(fleet.outDir, 'acl'), 'utf8'), /evil/);
    } finally {
      await fleet.stop();
    }
  });
});

test('without a broker: service issue records the grant only; broker-config --kind emqx renders it with the client CAs and CRL', async () => {
  await withTempDir(async (dir) => {
    const { dataDir, passphraseFile } = await initDataDir(dir);
    const args = ['--data-dir', dataDir, '--passphrase-file', passphraseFile, '--json'];
    const issued = await fleetcert(['service', 'issue', 'nodered', '--read', 'devices/#', '--p12-out', join(dir, 'nodered.p12'), ...args]);
    assert.is(issued.code, 0, issued.stderr);
    assert.match(JSON.parse(issued.stdout).reloaded, /no broker configured/);
    assert.is((await stat(join(dir, 'nodered.p12'))).mode & 0o777, 0o600);
    const p12 = await openssl([
      'pkcs12',
      '-in',
      join(dir, 'nodered.p12'),
      '-nokeys',
      '-passin',
      `file:${join(dir, 'nodered.p12.passphrase')}`,
    ]);
    assert.match(p12, /subject=.*CN ?= ?service:nodered/);

    const renewed = await fleetcert(['service', 'renew', 'nodered', '--out-dir', join(dir, 'nodered'), ...args]);
    assert.is(renewed.code, 0, renewed.stderr);
    assert.equal(JSON.parse(renewed.stdout).read, ['devices/#'], 'the grants it had');
    const listed = JSON.parse((await fleetcert(['service', 'list', '--data-dir', dataDir, '--json'])).stdout).services[0];
    assert.equal(
      listed.certificates.map((c: { valid: boolean }) => c.valid),
      [true, true],
      'the earlier certificate stays valid until it expires',
    );

    const out = join(dir, 'emqx');
    const res = await fleetcert(['broker-config', '--kind', 'emqx', '--out', out, ...args]);
    assert.is(res.code, 0, res.stderr);
    assert.equal(Object.keys(JSON.parse(res.stdout).files).sort(), ['aclFile', 'cafile', 'certfile', 'crlfile', 'keyfile', 'settings']);
    assert.match(await readFile(join(out, 'acl.conf'), 'utf8'), '{allow, {username, "service:nodered"}, subscribe, ["devices/#"]}.');
    assert.match(await readFile(join(out, 'emqx-fleetcert.conf'), 'utf8'), `cacertfile = "${join(out, 'ca.pem')}"`);
    assert.match(await openssl(['crl', '-in', join(out, 'crl.pem'), '-noout', '-nextupdate']), /nextUpdate=/);
    await stat(join(dataDir, 'broker.json')).then(
      () => assert.unreachable('--kind emqx configures no Mosquitto link'),
      () => undefined,
    );
  });
});

test.run();
