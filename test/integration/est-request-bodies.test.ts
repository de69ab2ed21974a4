/**
 * Issue 11, item 1: no request body, however framed, ends `fleetcert serve`. Every shape goes to
 * the real server process over raw TLS; after each, the same process must still answer, and after
 * all of them it must still enroll a device and stop cleanly (exit 0, nothing unhandled logged).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EST_PATHS } from '#shared/protocol/est.js';
import { deviceCsr, enrollDevice, est } from '../helpers/est-client.js';
import { createToken, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { chunked, head, rawHttps, type RawExchange, type RawReply } from '../helpers/raw-https.js';
import { withTempDir } from '../helpers/temp-dir.js';

const TOKEN = `fct_aaaaaaaaaa_${'B'.repeat(43)}`;
const AUTH = `Authorization: Basic ${Buffer.from(`device:${TOKEN}`).toString('base64')}`;

function post(path: string, ...extra: string[]): string {
  return head(`POST ${path} HTTP/1.1`, 'Host: localhost', AUTH, 'Content-Type: application/pkcs10', ...extra);
}

async function assertAlive(server: FleetServer, after: string): Promise<void> {
  const res = await est(server, { path: EST_PATHS.cacerts, method: 'GET' }).catch((err: Error) => ({ status: err.message }));
  assert.is(res.status, 200, `server no longer answers after: ${after}`);
}

async function survives(server: FleetServer, name: string, exchange: RawExchange): Promise<RawReply> {
  const reply = await rawHttps(server, exchange);
  // Let a crash caused by the exchange happen before we look.
  await new Promise((r) => setTimeout(r, 200));
  await assertAlive(server, name);
  return reply;
}

test('every oversized, aborted, lying or malformed body leaves the server running and enrolling', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir);
    try {
      const big = Buffer.alloc(70 * 1024, 0x41);
      for (const path of [EST_PATHS.simpleEnroll, EST_PATHS.simpleReenroll]) {
        const declared = await survives(server, `Content-Length too big on ${path}`, {
          parts: [post(path, 'Content-Length: 100000')],
        });
        assert.is(declared.status, 413, declared.raw);
        assert.is(declared.code, 'payload_too_large');

        const chunkedTooBig = await survives(server, `chunked 70 KB on ${path}`, {
          parts: [post(path, 'Transfer-Encoding: chunked'), chunked(big)],
        });
        assert.is(chunkedTooBig.status, 413, chunkedTooBig.raw);
        assert.is(chunkedTooBig.code, 'payload_too_large');

        // The same, with the chunks trickling in so the cap is hit mid-stream rather than in one read.
        const slowChunks = chunked(big, 4096);
        const trickle: (Buffer | number)[] = [Buffer.from(post(path, 'Transfer-Encoding: chunked'))];
        for (let i = 0; i < slowChunks.length; i += 16 * 1024) trickle.push(slowChunks.subarray(i, i + 16 * 1024), 5);
        const trickled = await survives(server, `chunked 70 KB in pieces on ${path}`, { parts: trickle });
        assert.is(trickled.status, 413, trickled.raw);

        await survives(server, `client aborting mid-body on ${path}`, {
          parts: [post(path, 'Content-Length: 2000'), 'x'.repeat(500), 50],
          then: 'abort',
        });
        await survives(server, `client aborting mid-chunk on ${path}`, {
          parts: [post(path, 'Transfer-Encoding: chunked'), '1000\r\n', 'y'.repeat(100), 50],
          then: 'abort',
        });
        await survives(server, `client aborting a too-big chunked body on ${path}`, {
          parts: [post(path, 'Transfer-Encoding: chunked'), chunked(big).subarray(0, 66 * 1024)],
          then: 'abort',
        });

        const longer = await survives(server, `body longer than declared on ${path}`, {
          parts: [post(path, 'Content-Length: 10'), 'z'.repeat(200)],
        });
        // The surplus is parsed as a next request, which is garbage: closing the connection is fine, a 5xx is not.
        assert.ok(longer.status === undefined || longer.status < 500, longer.raw);

        const badFraming = await survives(server, `invalid chunk framing on ${path}`, {
          parts: [post(path, 'Transfer-Encoding: chunked'), 'zz\r\nhello\r\n0\r\n\r\n'],
        });
        assert.ok(badFraming.status === undefined || badFraming.status < 500, badFraming.raw);

        const both = await survives(server, `Content-Length and chunked together on ${path}`, {
          parts: [post(path, 'Content-Length: 5', 'Transfer-Encoding: chunked'), '5\r\nhello\r\n0\r\n\r\n'],
        });
        assert.ok(both.status === undefined || both.status < 500, both.raw);
      }

      const { token } = await createToken(server.dataDir);
      const device = await enrollDevice(server, token, 'rpi-body-1');
      assert.ok(device.serial.length > 0);
      const body = (await deviceCsr('rpi-body-2')).body;
      const again = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: 'application/pkcs10', body });
      assert.is(again.status, 200);
    } finally {
      const code = await server.stop();
      assert.is(code, 0, `serve exited ${code}:\n${server.logs().slice(-2000)}`);
    }
    assert.not.match(server.logs(), /"event":"(unhandled_rejection|request_failed)"/);
  });
});

test('a body that stalls is answered 408 request_timeout after --body-timeout, and the server carries on', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--body-timeout', '1s']);
    try {
      for (const path of [EST_PATHS.simpleEnroll, EST_PATHS.simpleReenroll]) {
        const stalled = await survives(server, `stalled Content-Length body on ${path}`, {
          parts: [post(path, 'Content-Length: 2000'), 'x'.repeat(500)],
        });
        assert.is(stalled.status, 408, stalled.raw);
        assert.is(stalled.code, 'request_timeout');
        assert.ok(stalled.closedByServer, 'the server closes the connection after 408');
        assert.ok(stalled.elapsedMs >= 900 && stalled.elapsedMs < 5_000, `408 after ${stalled.elapsedMs} ms`);

        const stalledChunks = await survives(server, `stalled chunked body on ${path}`, {
          parts: [post(path, 'Transfer-Encoding: chunked'), '100\r\n', 'y'.repeat(50)],
        });
        assert.is(stalledChunks.status, 408, stalledChunks.raw);
      }
    } finally {
      assert.is(await server.stop(), 0);
    }
  });
});

test.run();
