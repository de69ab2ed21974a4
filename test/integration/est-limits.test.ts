/** Abuse limits of the real server: per-source rate limiting, slow clients cut off. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:tls';
import { EST_PATHS } from '#shared/protocol/est.js';
import { deviceCsr, est } from '../helpers/est-client.js';
import { createToken, serverEvents, startServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const PKCS10 = 'application/pkcs10';

test('after 3 failed tokens that token id gets 429 + Retry-After from that source, even with the right secret; cacerts stays open', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--max-auth-failures', '3', '--failure-window', '10m']);
    try {
      const { token, id } = await createToken(server.dataDir);
      const body = (await deviceCsr('rpi-rl-1')).body;
      for (let i = 0; i < 3; i += 1) {
        const bad = await est(server, { path: EST_PATHS.simpleEnroll, token: `fct_${id}_${'B'.repeat(43)}`, contentType: PKCS10, body });
        assert.is(bad.status, 401);
      }
      const limited = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body });
      assert.is(limited.status, 429);
      assert.is(limited.json?.code, 'rate_limited');
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter > 500 && retryAfter <= 600, `Retry-After ${retryAfter}`);
      assert.is((await est(server, { path: EST_PATHS.cacerts, method: 'GET' })).status, 200);
    } finally {
      await server.stop();
    }
  });
});

test('a client that never finishes its headers gets 408 and is disconnected after --header-timeout', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--header-timeout', '1s']);
    try {
      const started = Date.now();
      let received = '';
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: server.rootPem }, () => {
          socket.write(`POST ${EST_PATHS.simpleEnroll} HTTP/1.1\r\nHost: localhost\r\nX-Slow: `); // and never more
        });
        socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(Date.now() - started));
        setTimeout(() => reject(new Error('still connected after 8 s')), 8_000);
      });
      assert.ok(closedAfter >= 900 && closedAfter < 4_000, `closed after ${closedAfter} ms`);
      assert.match(received, /^HTTP\/1\.1 408 .*"code":"request_timeout"/s);
      assert.is((await est(server, { path: EST_PATHS.cacerts, method: 'GET' })).status, 200);
    } finally {
      await server.stop();
    }
  });
});

test('SIGTERM stops the server cleanly (exit 0, serve_stopped logged)', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir);
    assert.is(await server.stop(), 0);
    assert.ok(
      serverEvents(server).some((e) => e.event === 'serve_stopped'),
      server.logs(),
    );
  });
});

test.run();
