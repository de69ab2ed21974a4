/**
 * The request path's last resort (issue 11, item 1): a fault that escapes the error mapping is
 * logged with `event: request_failed` and answered 500, never left as an unhandled rejection.
 * The faults are injected where no client input can reach: the logger and the service.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:https';
import { DEFAULT_LIMITS, EstServer } from '#server/est/est-server.js';
import { FailureLimiter } from '#server/est/failure-limiter.js';
import type { EnrollmentService } from '#server/enrollment/enrollment-service.js';
import { createLogger, type Logger } from '#shared/log/logger.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { RENEWAL_INFO_PATH } from '#shared/protocol/renewal-info.js';
import { localhostTls, makeTestPki } from '../../../helpers/test-pki.js';

const pki = await makeTestPki();
const tls = await localhostTls(pki);

/** A logger that records its lines and throws on the messages named: a fault where no input reaches. */
function faultyLogger(lines: Record<string, unknown>[], throwOn: readonly string[]): Logger {
  const base = createLogger({ namespace: 'test', level: 'debug', sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const wrap = (write: (m: string, f?: Record<string, unknown>) => void) => (message: unknown, fields?: unknown) => {
    const text = typeof message === 'function' ? (message as () => string)() : String(message);
    if (throwOn.includes(text) || throwOn.some((t) => text.startsWith(t))) throw new Error(`logger fault on "${text}"`);
    write(text, typeof fields === 'function' ? (fields as () => Record<string, unknown>)() : (fields as Record<string, unknown>));
  };
  const logger: Logger = {
    level: 'debug',
    debug: wrap((m, f) => base.debug(m, f)),
    info: wrap((m, f) => base.info(m, f)),
    warn: wrap((m, f) => base.warn(m, f)),
    error: wrap((m, f) => base.error(m, f)),
    child: () => logger,
  };
  return logger;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', ca: tls.caPems, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer to GET ${path} within 5 s`)));
    req.end();
  });
}

async function withServer(service: Partial<EnrollmentService>, log: Logger, fn: (port: number) => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const server = new EstServer({
    tls,
    service: service as EnrollmentService,
    caCertificates: [pki.intermediate.certificate, pki.root.certificate],
    limiter: new FailureLimiter({ maxFailures: 10, windowSeconds: 60 }),
    tokenKnown: async () => false,
    log,
    limits: DEFAULT_LIMITS,
  });
  const address = await server.start('127.0.0.1', 0);
  try {
    await fn(address.port);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(unhandled, [], 'no unhandled rejection');
  } finally {
    await server.stop(100);
    process.off('unhandledRejection', onUnhandled);
  }
}

test('a fault in the error mapping is answered 500 internal and logged as request_failed; the server carries on', async () => {
  const lines: Record<string, unknown>[] = [];
  const service = { renewalInfo: () => Promise.reject(new TypeError('a bug in the service')) };
  await withServer(service, faultyLogger(lines, ['request failed unexpectedly']), async (port) => {
    const res = await get(port, RENEWAL_INFO_PATH);
    assert.is(res.status, 500);
    assert.is((JSON.parse(res.body) as { code: string }).code, 'internal');
    assert.ok(
      lines.some((l) => l.event === 'request_failed'),
      JSON.stringify(lines),
    );
    assert.is((await get(port, EST_PATHS.cacerts)).status, 200);
  });
});

test('a fault after the reply was sent is logged, the connection dropped, and nothing is left unhandled', async () => {
  const lines: Record<string, unknown>[] = [];
  await withServer({}, faultyLogger(lines, ['GET /.well-known/est/cacerts ->']), async (port) => {
    assert.is((await get(port, EST_PATHS.cacerts)).status, 200);
    assert.ok(
      lines.some((l) => l.event === 'request_failed'),
      JSON.stringify(lines),
    );
  });
});

test.run();
