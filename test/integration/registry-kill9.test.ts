/**
 * Issue 15 item 2: group commit must not trade durability for speed. `fleetcert serve` is killed
 * with SIGKILL while 16 clients enroll as fast as they can; then every certificate any client
 * received is in the registry (with its device, active), no serial was handed out twice, SQLite's
 * integrity_check is ok, and a restarted server enrolls again on the same file.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describeCertificate } from '#shared/pki/certificate.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { deviceCsr, enrollDevice, est } from '../helpers/est-client.js';
import { createToken, startServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const CONCURRENCY = 16;

test('kill -9 under concurrent enrollment: every certificate a client received is committed, once', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--log-level', 'warn']);
    const { token } = await createToken(server.dataDir, ['--uses', '100000']);
    const csrs = await Promise.all(Array.from({ length: 1200 }, (_, i) => deviceCsr(`k9-${i}`)));
    const received = new Map<string, string>(); // serial -> device id
    const duplicates: string[] = [];
    let next = 0;
    let failures = 0;
    let killed = false;
    const worker = async () => {
      while (next < csrs.length) {
        const i = next++;
        try {
          const res = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: 'application/pkcs10', body: csrs[i]!.body });
          if (res.status !== 200) throw new Error(`${res.status} ${res.body}`);
          const serial = describeCertificate(decodeCertsOnly(Buffer.from(res.body, 'base64'))[0]!).serialNumber;
          if (received.has(serial)) duplicates.push(serial);
          received.set(serial, `k9-${i}`);
        } catch (err) {
          if (!killed) throw err;
          failures += 1; // in flight when the server died: the client got nothing
        }
        // Kill in the middle of the load, with many requests in flight and batches being committed.
        if (!killed && received.size >= 200) {
          killed = true;
          process.kill(server.pid, 'SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.ok(killed, 'the server was killed under load');
    assert.ok(failures > 0, 'requests were in flight when it died');
    assert.equal(duplicates, [], 'no serial handed out twice');

    const db = new Database(join(server.dataDir, 'registry.sqlite3'));
    try {
      assert.is(db.pragma('integrity_check', { simple: true }), 'ok');
      const rows = db.prepare('SELECT serial, device_id, status FROM certificates').all() as {
        serial: string;
        device_id: string;
        status: string;
      }[];
      const stored = new Map(rows.map((r) => [r.serial, r]));
      const missing = [...received].filter(
        ([serial, id]) => stored.get(serial)?.device_id !== id || stored.get(serial)?.status !== 'active',
      );
      assert.equal(missing, [], 'every received certificate is in the registry, active, for its device');
      assert.is(new Set(rows.map((r) => r.serial)).size, rows.length);
    } finally {
      db.close();
    }
    const again = await startServer(dir, ['--log-level', 'warn'], server);
    try {
      const device = await enrollDevice(again, token, 'k9-after-restart');
      assert.ok(device.serial.length > 0);
    } finally {
      await again.stop();
    }
  });
});

test.run();
