/**
 * Issue 17 item 4: `device list` shows online and time-to-expiry at a glance and filters by
 * --expiring-within and --silent-for; its --json keeps every field of earlier versions.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { enrollDevice } from '../helpers/est-client.js';
import { fleetcert } from '../helpers/cli.js';
import { createToken, sqlFixture, startServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

/** The fields `device list --json` had before issue 17; scripts rely on them. */
const DEVICE_FIELDS = ['id', 'status', 'tokenId', 'labels', 'metadata', 'pendingKeySha256', 'firstSeen', 'lastSeen', 'reported'];
const LIST_FIELDS = [...DEVICE_FIELDS, 'contested', 'certificate'];
const CERTIFICATE_FIELDS = ['serial', 'status', 'keySha256', 'notBefore', 'notAfter', 'issuedAt', 'revokedAt', 'revocationReason'];

test('device list: online and expires-in columns, --expiring-within, --silent-for, --json only extended', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--device-lifetime', '30d', '--log-level', 'warn']);
    try {
      const { token } = await createToken(server.dataDir);
      for (const id of ['quiet', 'soon', 'talky']) await enrollDevice(server, token, id);
      const now = Date.now();
      // States the CLI cannot produce on demand: a status report, a certificate near its end, a device quiet for days.
      sqlFixture(server.dataDir, "UPDATE devices SET reported_state = 'online', reported_at = ? WHERE id = 'talky'", now);
      sqlFixture(server.dataDir, "UPDATE devices SET reported_state = 'offline', reported_at = ? WHERE id = 'soon'", now);
      sqlFixture(server.dataDir, "UPDATE certificates SET not_after = ? WHERE device_id = 'soon'", now + 5 * 3600_000);
      sqlFixture(server.dataDir, "UPDATE devices SET last_seen = ? WHERE id = 'quiet'", now - 3 * 86400_000);
      const list = (...args: string[]) => fleetcert(['device', 'list', '--data-dir', server.dataDir, ...args]);

      const json = JSON.parse((await list('--json')).stdout) as { devices: Record<string, unknown>[] };
      for (const d of json.devices) {
        for (const field of LIST_FIELDS) assert.ok(field in d, `device list --json still has "${field}"`);
        for (const field of CERTIFICATE_FIELDS) assert.ok(field in (d.certificate as object), `certificate.${field}`);
      }
      assert.equal(
        json.devices.map((d) => [d.id, d.online]),
        [
          ['quiet', null],
          ['soon', false],
          ['talky', true],
        ],
      );
      const soon = json.devices.find((d) => d.id === 'soon')!.expiresInSeconds as number;
      assert.ok(soon > 4 * 3600 && soon <= 5 * 3600, `soon expires in ${soon} s`);

      const human = (await list()).stdout;
      assert.match(human, /^DEVICE\s+STATUS\s+ONLINE\s+SERIAL\s+EXPIRES\s+IN\s+LAST SEEN\s+TOKEN$/m);
      assert.match(human, /^talky\s+active\s+online\s+[0-9a-f]{16}\s+\S+\s+29d\s/m);
      assert.match(human, /^soon\s+active\s+offline\s+[0-9a-f]{16}\s+\S+\s+4h\s/m);
      assert.match(human, /^quiet\s+active\s+-\s/m);

      const ids = async (...args: string[]) =>
        (JSON.parse((await list('--json', ...args)).stdout) as { devices: { id: string }[] }).devices.map((d) => d.id);
      assert.equal(await ids('--expiring-within', '1d'), ['soon']);
      assert.equal(await ids('--expiring-within', '60d'), ['quiet', 'soon', 'talky']);
      assert.equal(await ids('--silent-for', '2d'), ['quiet']);
      assert.equal(await ids('--silent-for', '2d', '--expiring-within', '1d'), []);
      assert.is((await list('--silent-for', '2d', '--expiring-within', '1d')).stdout, 'No devices match.\n');

      const bad = await list('--silent-for', 'soon');
      assert.is(bad.code, 2);
      assert.match(bad.stderr, /--silent-for "soon" is not a duration/);
    } finally {
      await server.stop();
    }
  });
});

test.run();
