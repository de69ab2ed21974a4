/**
 * The agent must run on Node 18 (Raspberry Pi OS Bookworm ships it): enroll and connect over
 * mTLS with a real Node 18.20.8 against the real server and broker (which run on this Node).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { AGENT_MAIN } from '../helpers/cli.js';
import { boardRoot } from '../helpers/boards.js';
import { startFleetWithBroker } from '../helpers/fleet-broker.js';
import { node18 } from '../helpers/node18.js';
import { run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { eventsIn } from '../helpers/agent-process.js';
import { boardArgs, createBootstrapToken } from '../helpers/device-fleet.js';

const BOARD = boardRoot('rpi3-bookworm-armhf');

test('Node 18.20.8: the agent enrolls, installs and connects over mutual TLS', async () => {
  const node = await node18();
  assert.match((await run(node, ['--version'])).stdout, /^v18\./);
  await withTempDir(async (dir) => {
    const fleet = await startFleetWithBroker(dir);
    try {
      const boot = join(dir, 'fleetcert.json');
      await createBootstrapToken(fleet, boot, { name: 'n18' });
      const args = boardArgs({ stateDir: join(dir, 'state'), bootstrap: boot, brokerPort: fleet.brokerPort, identityRoot: BOARD });
      const agent = spawn(node, [AGENT_MAIN, 'run', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let logs = '';
      agent.stderr.on('data', (c: Buffer) => (logs += c.toString()));
      const exited = new Promise<number | null>((r) => agent.on('exit', (code) => r(code)));
      try {
        for (let i = 0; i < 150 && eventsIn(logs, 'mqtt_connected').length === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
        assert.is(eventsIn(logs, 'certificate_installed').length, 1, logs);
        assert.is(eventsIn(logs, 'mqtt_connected').length, 1, logs);
      } finally {
        agent.kill('SIGTERM');
        assert.is(await exited, 0, logs);
      }
    } finally {
      await fleet.stop();
    }
  });
});

test.run();
