/**
 * Local broker mode, end to end on the real fleet broker: the agent runs a Mosquitto on the
 * "device" (loopback), bridged to the fleet broker with the device certificate, and uses it itself.
 * Two local publishers (mosquitto_pub -l, the stand-in for Node-RED: one connection each, QoS 1)
 * publish through a renewal (asked for over MQTT with renew-now, so the server's command crosses the
 * bridge inward): nothing is lost, their connections never drop, the fleet broker sees the renewed
 * certificate in use, and the agent holds no second session. Then the local broker is killed -9, as
 * a power cut would end the bridge: the fleet broker's will says the device is offline, and the agent
 * starts its broker again. Last, the device is revoked: the bridge is refused, and the agent's status
 * says revoked. The agent runs on Node 18, its oldest runtime.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { boardRoot } from '../helpers/boards.js';
import { AGENT_MAIN, fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { node18 } from '../helpers/node18.js';
import { boardArgs, createBootstrapToken } from '../helpers/device-fleet.js';
import { startFleetWithBroker } from '../helpers/fleet-broker.js';
import { freePort } from '../helpers/ports.js';
import { withTempDir } from '../helpers/temp-dir.js';

const DEVICE = 'rpi4-100000002a5c3b71';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A long-lived local publisher: one connection, one QoS 1 message per line. */
function localPublisher(port: number, name: string) {
  const child = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-i', name, '-q', '1', '-t', `line/${name}`, '-l'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let sent = 0;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    send: () => child.stdin.write(`${(sent += 1)}\n`),
    get sent() {
      return sent;
    },
    alive: () => child.exitCode === null,
    async end() {
      child.stdin.end();
      return { code: await exited, stderr };
    },
  };
}

async function reported(dataDir: string): Promise<{ state?: string; serial?: string } | undefined> {
  const res = await fleetcert(['device', 'show', DEVICE, '--json', '--data-dir', dataDir]);
  return JSON.parse(res.stdout).device.reported;
}

test('local broker mode: two local publishers lose nothing across a renewal; the bridge carries the agent and its will', async () => {
  await withTempDir(async (dir) => {
    const observerPort = await freePort();
    const fleet = await startFleetWithBroker(dir, [], { observerPort });
    let agent: AgentProcess | undefined;
    let observer: mqtt.MqttClient | undefined;
    try {
      const boot = join(dir, 'fleetcert.json');
      await createBootstrapToken(fleet, boot, { name: 'bridge' });
      const localPort = await freePort();
      const config = join(dir, 'agent.json');
      await writeFile(config, JSON.stringify({ localBroker: { port: localPort } }));
      const state = join(dir, 'state');
      agent = startAgent(
        [
          'run',
          '--config',
          config,
          ...boardArgs({ stateDir: state, bootstrap: boot, brokerPort: fleet.brokerPort, identityRoot: boardRoot('rpi4-bookworm-arm64') }),
          '--renew-check',
          '0 0 1 1 *',
        ],
        { program: [await node18(), AGENT_MAIN] },
      ); // the agent's oldest runtime (Debian 12's Node 18)
      const connected = await agent.waitForEvent('mqtt_connected', 30_000);
      assert.is(connected.bridged, true, 'the agent is connected through the bridge');
      assert.is(connected.clientId, DEVICE);
      const firstSerial = String(connected.serial);
      const conf = await readFile(join(state, 'local-broker', 'mosquitto.conf'), 'utf8');
      assert.match(conf, `topic # out 1 "" devices/${DEVICE}/`);
      assert.not.match(conf, /BEGIN|PRIVATE/, 'the config names the key file, it does not hold the key');

      observer = await mqtt.connectAsync(`mqtt://127.0.0.1:${observerPort}`, { clientId: 'observer', protocolVersion: 5 });
      const lines = new Map<string, Set<number>>([
        ['a', new Set()],
        ['b', new Set()],
      ]);
      const bridgeStates: string[] = [];
      observer.on('message', (topic, payload) => {
        const line = /^devices\/[^/]+\/line\/(a|b)$/.exec(topic);
        if (line) lines.get(line[1]!)!.add(Number(payload.toString()));
        if (topic.startsWith('$fleetcert/')) bridgeStates.push(payload.toString());
        if (process.env.DEBUG_BRIDGE) console.log(Date.now(), topic, payload.toString());
      });
      await observer.subscribeAsync(
        [`devices/${DEVICE}/#`, `$fleetcert/devices/${DEVICE}/bridge`, ...(process.env.DEBUG_BRIDGE ? ['fleetcert/#'] : [])],
        { qos: 1 },
      );
      // The agent's status crossed the bridge as the device's own: the server recorded its serial.
      for (let i = 0; i < 50 && (await reported(fleet.server.dataDir))?.serial !== firstSerial; i += 1) await sleep(200);
      assert.is((await reported(fleet.server.dataDir))?.serial, firstSerial);

      const publishers = [localPublisher(localPort, 'a'), localPublisher(localPort, 'b')];
      const ticker = setInterval(() => publishers.forEach((p) => p.alive() && p.send()), 40);
      try {
        await sleep(1_000);
        // The server's command crosses the bridge inward; the renewal happens while both publish.
        const asked = await fleetcert(['renew-now', DEVICE, '--reason', 'bridge test', '--data-dir', fleet.server.dataDir]);
        assert.is(asked.code, 0, asked.stderr);
        await agent.waitForEvent('renewal_requested', 15_000, { match: { reason: 'bridge test' } });
        const renewed = await agent.waitForEvent('certificate_renewed', 30_000);
        const newSerial = typeof renewed.serial === 'string' ? renewed.serial : '';
        await agent.waitForEvent('bridge_following', 30_000);
        // The bridge came back with the renewed certificate (the fleet broker only knows it by its status).
        assert.is.not(newSerial, firstSerial);
        const back = async () => {
          const now = await reported(fleet.server.dataDir);
          return now?.state === 'online' && now.serial === newSerial;
        };
        for (let i = 0; i < 100 && !(await back()); i += 1) await sleep(200);
        assert.ok(await back(), 'the bridge is back, and the device reports the renewed certificate');
        await sleep(BRIDGE_SETTLE_MS);
      } finally {
        clearInterval(ticker);
      }
      for (const p of publishers) assert.ok(p.alive(), 'a local publisher never lost its connection');
      const ended = await Promise.all(publishers.map((p) => p.end()));
      ended.forEach((e) => assert.is(e.code, 0, e.stderr));
      // Everything published reaches the fleet broker, in the device's subtree.
      for (let i = 0; i < 100 && ![...lines].every(([n, got]) => got.size === publishers[n === 'a' ? 0 : 1]!.sent); i += 1)
        await sleep(200);
      for (const [name, got] of lines) {
        const sent = publishers[name === 'a' ? 0 : 1]!.sent;
        const missing = Array.from({ length: sent }, (_, k) => k + 1).filter((n) => !got.has(n));
        assert.ok(sent > 50, `publisher ${name} sent ${sent}`);
        assert.equal(missing, [], `publisher ${name}: ${missing.length} of ${sent} lost`);
      }
      assert.ok(bridgeStates.includes('1'), 'the bridge announced itself');

      // A power cut ends the bridge without a goodbye: the fleet broker publishes its will, the server marks the device offline.
      const pid = Number((await readFile(join(state, 'local-broker', 'mosquitto.pid'), 'utf8')).trim());
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 60 && (await reported(fleet.server.dataDir))?.state !== 'offline'; i += 1) await sleep(100);
      assert.is((await reported(fleet.server.dataDir))?.state, 'offline', "the bridge's will marks the device offline");
      assert.ok(bridgeStates.includes('0'));
      await agent.waitForEvent('local_broker_exited', 10_000);
      await agent.waitForEvent('local_broker_started', 20_000, { count: 2 });
      await agent.waitForEvent('mqtt_connected', 30_000, { count: 2 });
      for (let i = 0; i < 50 && (await reported(fleet.server.dataDir))?.state !== 'online'; i += 1) await sleep(200);
      assert.is((await reported(fleet.server.dataDir))?.state, 'online');

      // Revoked: the fleet broker ends the bridge's session and refuses it from then on; the agent, which
      // sees the bridge only through mosquitto's log, says so as a direct connection would.
      const revoked = await fleetcert([
        'device',
        'revoke',
        DEVICE,
        '--data-dir',
        fleet.server.dataDir,
        '--passphrase-file',
        fleet.server.passphraseFile,
      ]);
      assert.is(revoked.code, 0, revoked.stderr);
      await agent.waitForEvent('mqtt_refused', 30_000, { match: { code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED', bridged: true } });
      const status = await fleetcertAgent(['status', '--json', '--state-dir', state, '--identity-root', boardRoot('rpi4-bookworm-arm64')]);
      assert.equal([status.code, JSON.parse(status.stdout).agent?.connection?.state], [6, 'revoked'], status.stdout);
    } finally {
      await observer?.endAsync(true);
      const code = await agent?.stop();
      await fleet.stop();
      if (agent) assert.is(code, 0, agent.logs().slice(-3000));
    }
  });
});

/** After the bridge is back with the renewed certificate, a little more publishing across the new session. */
const BRIDGE_SETTLE_MS = 1_500;

test.run();
