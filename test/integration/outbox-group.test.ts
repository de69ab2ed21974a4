/**
 * Programs on the device publish without root: with `outboxGroup` the agent makes its outbox a
 * drop box for that group (3770), and a member (here `nobody`, group `nogroup`, standing in for
 * Node-RED's user in a `fleetcert` group) queues messages with `fleetcert-agent publish` that reach
 * the broker below devices/<id>/. The member still cannot read the agent's state, and what sits in
 * the outbox is read only if it is a regular file: a link to a root-only file or a FIFO is refused
 * (moved to rejected/), and publishing goes on. Needs root (as CI runs) to act as two users.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { execFileSync } from 'node:child_process';
import { readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent } from '../helpers/agent-process.js';
import { BOARDS_DIR } from '../helpers/boards.js';
import { AGENT_MAIN, fleetcert } from '../helpers/cli.js';
import { startFleetWithBroker } from '../helpers/fleet-broker.js';
import { freePort } from '../helpers/ports.js';
import { run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';

const asNobody = (args: readonly string[]) => run('runuser', ['-u', 'nobody', '--', ...args]);

test('a member of outboxGroup publishes through the agent without root; links and FIFOs in the outbox are refused', async () => {
  assert.is(process.getuid?.(), 0, 'acting as two users needs root (CI runs as root)');
  await withTempDir(async (dir) => {
    const observerPort = await freePort();
    const fleet = await startFleetWithBroker(dir, [], { observerPort });
    let agent: ReturnType<typeof startAgent> | undefined;
    let observer: mqtt.MqttClient | undefined;
    try {
      const boot = join(dir, 'boot.json');
      const made = await fleetcert([
        ...['token', 'create', '--data-dir', fleet.server.dataDir, '--name', 'spool'],
        ...['--enroll-url', `https://localhost:${fleet.server.port}`, '--out', boot],
      ]);
      assert.is(made.code, 0, made.stderr);
      const outboxDir = join(dir, 'spool', 'outbox');
      const config = join(dir, 'agent.json');
      await writeFile(config, JSON.stringify({ outboxDir, outboxGroup: 'nogroup' }), { mode: 0o644 });
      const state = join(dir, 'state');
      agent = startAgent([
        ...['run', '--config', config, '--state-dir', state, '--bootstrap', boot],
        ...['--broker', `127.0.0.1:${fleet.brokerPort}`, '--broker-servername', 'localhost'],
        ...['--identity-root', join(BOARDS_DIR, 'rpi4-bookworm-arm64'), '--hooks-dir', join(dir, 'hooks')],
      ]);
      const connected = await agent.waitForEvent('mqtt_connected', 20_000);
      const id = String(connected.clientId);
      const mode = await stat(outboxDir);
      assert.is(mode.mode & 0o7777, 0o3770);
      assert.is(mode.gid, Number(execFileSync('getent', ['group', 'nogroup']).toString().split(':')[2]));

      observer = await mqtt.connectAsync(`mqtt://127.0.0.1:${observerPort}`, { clientId: 'observer', protocolVersion: 5 });
      await observer.subscribeAsync(`devices/${id}/#`, { qos: 1 });
      const received: string[] = [];
      observer.on('message', (topic, payload) => received.push(`${topic.slice(`devices/${id}/`.length)}=${payload.toString()}`));

      // Things a member could leave in the outbox to make root read for them, or hang: refused, not followed.
      const secret = join(dir, 'root-only.json');
      await writeFile(secret, JSON.stringify({ topic: 'stolen', payload: 'root-only' }), { mode: 0o600 });
      await symlink(secret, join(outboxDir, '000000000000001-link.json'));
      execFileSync('mkfifo', [join(outboxDir, '000000000000002-fifo.json')]);

      // Two local programs, each queueing three messages as an unprivileged member.
      const publisher = async (name: string) => {
        for (let i = 1; i <= 3; i += 1) {
          const res = await asNobody([
            process.execPath,
            AGENT_MAIN,
            'publish',
            '--config',
            config,
            `local/${name}`,
            String(i),
            '--wait',
            '15',
          ]);
          assert.is(res.code, 0, `${name} #${i}: ${res.stderr}`);
        }
      };
      await Promise.all([publisher('a'), publisher('b')]);
      const expected = ['local/a=1', 'local/a=2', 'local/a=3', 'local/b=1', 'local/b=2', 'local/b=3'];
      for (let waited = 0; received.length < expected.length && waited < 5_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      assert.equal([...received].sort(), expected);
      assert.equal((await readdir(join(outboxDir, 'rejected'))).sort(), ['000000000000001-link.json', '000000000000002-fifo.json']);

      // Membership of the outbox's group opens nothing else.
      const key = await asNobody(['cat', join(state, 'live', 'key.pem')]);
      assert.is.not(key.code, 0);
    } finally {
      await observer?.endAsync(true).catch(() => undefined);
      await agent?.stop();
      await fleet.stop();
    }
  });
});

test.run();
