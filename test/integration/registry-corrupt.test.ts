/**
 * A registry row the server cannot read is the server's fault: the device gets a 500 that
 * blames nobody (never a 4xx that tells it to change something), the log names the row.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EST_PATHS } from '#shared/protocol/est.js';
import { deviceCsr, est } from '../helpers/est-client.js';
import { createToken, serverEvents, sqlFixture, startServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const PKCS10 = 'application/pkcs10';

test('a corrupt certificate row: the retried enrollment gets 500 registry_corrupt, the log names the row', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir);
    try {
      const { token } = await createToken(server.dataDir);
      const csr = await deviceCsr('rpi-corrupt-1');
      const enroll = () => est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body });
      assert.is((await enroll()).status, 200);
      sqlFixture(server.dataDir, "UPDATE certificates SET pem = 'garbage' WHERE device_id = ?", 'rpi-corrupt-1');
      // The same CSR again asks for the current certificate back, which the registry can no longer give.
      const res = await enroll();
      assert.is(res.status, 500, res.body);
      assert.is(res.json?.code, 'registry_corrupt');
      const failed = serverEvents(server).find((e) => e.event === 'enrollment_failed');
      assert.ok(failed, server.logs());
      assert.is(failed.code, 'registry_corrupt');
      assert.match(JSON.stringify(failed), /certificates\/[0-9a-f]+: pem/);
    } finally {
      await server.stop();
    }
  });
});

test('a corrupt device row: 500 registry_corrupt, not a refusal', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir);
    try {
      const { token } = await createToken(server.dataDir);
      const csr = await deviceCsr('rpi-corrupt-2');
      const enroll = () => est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body });
      assert.is((await enroll()).status, 200);
      sqlFixture(server.dataDir, "UPDATE devices SET metadata = '[' WHERE id = ?", 'rpi-corrupt-2');
      const res = await enroll();
      assert.is(res.status, 500, res.body);
      assert.is(res.json?.code, 'registry_corrupt');
    } finally {
      await server.stop();
    }
  });
});

test.run();
