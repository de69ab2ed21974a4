/**
 * A board refused on first contact is visible (issue 14 item 3): the agent's --json carries the
 * server's own code, `device list --refused` groups the attempts, and `device show` of the id
 * shows them instead of "no device".
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { EXIT } from '#shared/cli/exit-codes.js';
import { boardRoot } from '../helpers/boards.js';
import { bootCard } from '../helpers/boot-card.js';
import { fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { boardArgs } from '../helpers/device-fleet.js';
import { startServer, waitForEvent } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const PI4 = 'rpi4-100000002a5c3b71';

test('a Pi 4 refused by a Pi 3 token: id_not_allowed in its --json, in device list --refused, in device show', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir);
    try {
      const boot = join(dir, 'fleetcert.json');
      const url = `https://localhost:${server.port}`;
      const token = await fleetcert([
        ...['token', 'create', '--data-dir', server.dataDir, '--name', 'pi3-card', '--id-pattern', 'rpi3-*'],
        ...['--enroll-url', url, '--out', boot],
      ]);
      assert.is(token.code, 0, token.stderr);
      const board = boardArgs({
        stateDir: join(dir, 'state'),
        bootstrap: bootCard(dir, 'pi4', boot),
        brokerPort: 1,
        identityRoot: boardRoot('rpi4-bookworm-arm64'),
      });

      for (let attempt = 1; attempt <= 2; attempt++) {
        const enroll = await fleetcertAgent(['enroll', ...board, '--timeout', '20', '--json']);
        assert.is(enroll.code, EXIT.refused, enroll.stderr);
        const body = JSON.parse(enroll.stdout) as { ok: boolean; code: string };
        // Today's main said "enrollment_refused" here: a script could not tell a wrong pattern from a taken id.
        assert.equal([body.ok, body.code], [false, 'id_not_allowed']);
      }
      await waitForEvent(server, 'enrollment_refused');

      const listed = await fleetcert(['device', 'list', '--refused', '--data-dir', server.dataDir, '--json']);
      assert.is(listed.code, 0, listed.stderr);
      const refusals = (JSON.parse(listed.stdout) as { refusals: { deviceId: string; code: string; count: number; source: string }[] })
        .refusals;
      assert.equal(
        refusals.map((r) => [r.deviceId, r.code, r.count]),
        [[PI4, 'id_not_allowed', 2]],
      );
      assert.match(refusals[0]!.source, /127\.0\.0\.1/);
      const table = await fleetcert(['device', 'list', '--refused', '--data-dir', server.dataDir]);
      assert.match(table.stdout, new RegExp(`${PI4}\\s+\\S*127\\.0\\.0\\.1\\S*\\s+id_not_allowed\\s+2\\s`));
      const devices = await fleetcert(['device', 'list', '--data-dir', server.dataDir, '--json']);
      assert.equal(JSON.parse(devices.stdout).devices, [], 'refusals are not devices');

      const shown = await fleetcert(['device', 'show', PI4, '--data-dir', server.dataDir, '--json']);
      assert.is(shown.code, 0, shown.stderr);
      const show = JSON.parse(shown.stdout) as { device: unknown; refusals: { code: string; count: number }[] };
      assert.is(show.device, null);
      assert.equal(
        show.refusals.map((r) => [r.code, r.count]),
        [['id_not_allowed', 2]],
      );
      const text = await fleetcert(['device', 'show', PI4, '--data-dir', server.dataDir]);
      assert.match(text.stdout, /never enrolled/);
      assert.match(text.stdout, /id_not_allowed/);
      const unknown = await fleetcert(['device', 'show', 'rpi3-nobody', '--data-dir', server.dataDir, '--json']);
      assert.is(unknown.code, EXIT.notReady);
      assert.is(JSON.parse(unknown.stdout).code, 'device_not_found');
    } finally {
      await server.stop();
    }
  });
});

test.run();
