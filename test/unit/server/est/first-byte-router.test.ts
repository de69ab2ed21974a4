/**
 * One port, TLS and plain HTTP (issue 16, the CRL distribution point on the EST port): a real
 * EstServer whose non-TLS connections go to a real CrlHttpServer. TLS clients are served as before,
 * plain HTTP reaches the CRL handler, a silent or slow connection is closed on time, and random
 * bytes (seeded) never crash either server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { DEFAULT_LIMITS, EstServer } from '#server/est/est-server.js';
import { FailureLimiter } from '#server/est/failure-limiter.js';
import type { EnrollmentService } from '#server/enrollment/enrollment-service.js';
import type { Registry } from '#server/registry/registry.js';
import { CRL_HTTP_PATH, CrlHttpServer } from '#server/revocation/crl-http-server.js';
import { createLogger } from '#shared/log/logger.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { prng } from '../../../helpers/prng.js';
import { localhostTls, makeTestPki } from '../../../helpers/test-pki.js';

const pki = await makeTestPki();
const tls = await localhostTls(pki);
const HANDSHAKE_MS = 300;
const CRL_REQUEST_MS = 800;

async function withServers(fn: (port: number, est: EstServer) => Promise<void>, handshakeTimeoutMs = HANDSHAKE_MS): Promise<void> {
  const log = createLogger({ namespace: 'test', level: 'error', sink: () => undefined });
  // No CRL published: the CRL handler answers 503, which is enough to tell it answered.
  const registry = { latestCrl: async () => undefined } as unknown as Registry;
  const crl = new CrlHttpServer({ registry, log, timeouts: { headersMs: 500, requestMs: CRL_REQUEST_MS } });
  const est = new EstServer({
    tls,
    service: {} as EnrollmentService,
    caCertificates: [pki.intermediate.certificate, pki.root.certificate],
    limiter: new FailureLimiter({ maxFailures: 10, windowSeconds: 60 }),
    tokenKnown: async () => false,
    log,
    limits: { ...DEFAULT_LIMITS, handshakeTimeoutMs },
    plainConnection: (socket) => crl.accept(socket),
  });
  const address = await est.start('127.0.0.1', 0);
  try {
    await fn(address.port, est);
  } finally {
    await crl.stop();
    await est.stop(100);
  }
}

function tlsGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, ca: tls.caPems, servername: 'localhost', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function plainGet(port: number, path: string, method = 'GET'): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Resolves with how long the server took to close a connection that wrote `first` and then `drip` every 100 ms. */
function closedAfter(port: number, first: Buffer | string, drip?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket: Socket = connect(port, '127.0.0.1', () => {
      if (first.length > 0) socket.write(first);
    });
    const timer = drip === undefined ? undefined : setInterval(() => socket.writable && socket.write(drip), 100);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error('the server left the connection open for 5 s'));
    }, 5_000);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(performance.now() - started);
    });
  });
}

test('TLS clients get EST, plain HTTP clients get the CRL handler, on the same port', async () => {
  await withServers(async (port) => {
    assert.is(await tlsGet(port, EST_PATHS.cacerts), 200);
    const crl = await plainGet(port, CRL_HTTP_PATH);
    assert.is(crl.status, 503);
    assert.match(crl.body, /no CRL published yet/);
    assert.is((await plainGet(port, '/.well-known/est/cacerts')).status, 404, 'EST is never served over plain HTTP');
    assert.is((await plainGet(port, CRL_HTTP_PATH, 'POST')).status, 405);
    assert.is(await tlsGet(port, CRL_HTTP_PATH), 404, 'and the CRL path is not an EST route');
  });
});

test('a connection that sends nothing, or only the first byte of a handshake, is closed on time', async () => {
  await withServers(async (port) => {
    const silent = await closedAfter(port, '');
    assert.ok(silent >= HANDSHAKE_MS - 50 && silent < HANDSHAKE_MS + 1_000, `silent: closed after ${Math.round(silent)} ms`);
    const stalled = await closedAfter(port, Buffer.from([0x16]));
    assert.ok(stalled < HANDSHAKE_MS + 1_500, `handshake byte then nothing: closed after ${Math.round(stalled)} ms`);
  });
});

test('a plain HTTP client that drips its headers (slowloris) is cut off at the request deadline', async () => {
  await withServers(async (port) => {
    const slow = await closedAfter(port, `GET ${CRL_HTTP_PATH} HTTP/1.1\r\n`, 'x');
    assert.ok(slow >= CRL_REQUEST_MS - 50 && slow < CRL_REQUEST_MS + 1_500, `closed after ${Math.round(slow)} ms`);
  });
});

test('stop() does not wait for connections that never sent a byte', async () => {
  const firstByteTimeoutMs = 10_000;
  await withServers(async (port, est) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await est.stop(5_000);
    const took = performance.now() - started;
    assert.ok(took < firstByteTimeoutMs / 4, `stop took ${Math.round(took)} ms`);
  }, firstByteTimeoutMs);
});

test('random bytes (seeded), TLS-looking or not, never crash the server; both protocols still answer', async () => {
  const random = prng(16);
  const errors: unknown[] = [];
  const onError = (err: unknown): void => void errors.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  try {
    await withServers(async (port) => {
      for (let round = 0; round < 4; round += 1) {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) => {
            const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
            if (i % 2 === 0) bytes[0] = 0x16;
            return new Promise<void>((resolve) => {
              const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
              socket.on('error', () => undefined);
              socket.on('data', () => undefined);
              socket.setTimeout(3_000, () => socket.destroy());
              socket.on('close', () => resolve());
            });
          }),
        );
        assert.is(await tlsGet(port, EST_PATHS.cacerts), 200);
        assert.is((await plainGet(port, CRL_HTTP_PATH)).status, 503);
      }
    });
  } finally {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  assert.equal(errors, []);
});

test.run();
