/**
 * The request path's last resort (issue 11, item 1): a fault that escapes the error mapping is
 * logged with `event: request_failed` and answered 500, never left as an unhandled rejection.
 * The faults are injected where no client input can reach: the logger and the service.
 * And the failure limiter's bucket (issue 15 item 4): read from the registry only when it matters.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:https';
import { DEFAULT_LIMITS, EstServer } from '#server/est/est-server.js';
import { FailureLimiter } from '#server/est/failure-limiter.js';
import { generateFleetToken } from '#server/tokens/fleet-token.js';
import { FleetcertError } from '#shared/errors.js';
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

function postEnroll(port: number, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: EST_PATHS.simpleEnroll,
        method: 'POST',
        ca: tls.caPems,
        servername: 'localhost',
        agent: false,
        headers: { 'content-type': 'application/pkcs10', authorization: `Basic ${Buffer.from(`d:${token}`).toString('base64')}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end('MIIB');
  });
}

async function withServer(
  service: Partial<EnrollmentService>,
  log: Logger,
  fn: (port: number) => Promise<void>,
  options: { tokenKnown?: (id: string) => Promise<boolean>; limiter?: FailureLimiter } = {},
): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const server = new EstServer({
    tls,
    service: service as EnrollmentService,
    caCertificates: [pki.intermediate.certificate, pki.root.certificate],
    limiter: options.limiter ?? new FailureLimiter({ maxFailures: 10, windowSeconds: 60 }),
    tokenKnown: options.tokenKnown ?? (async () => false),
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

test('the limiter bucket (is the token id known?) is read only when a refusal is possible or a failure is counted', async () => {
  const { token, id } = generateFleetToken();
  const reads: string[] = [];
  let outcome: 'issue' | 'guess' = 'issue';
  const service: Partial<EnrollmentService> = {
    enroll: () =>
      outcome === 'issue'
        ? Promise.resolve({
            kind: 'certificate',
            chain: [new Uint8Array(pki.intermediate.certificate.rawData)],
            serial: '01',
            reused: false,
          })
        : Promise.reject(new FleetcertError('token_invalid', 'wrong secret')),
  };
  const options = {
    limiter: new FailureLimiter({ maxFailures: 2, windowSeconds: 60 }),
    tokenKnown: async (claimed: string) => (reads.push(claimed), claimed === id),
  };
  await withServer(
    service,
    createLogger({ namespace: 'test', level: 'silent' }),
    async (port) => {
      assert.is(await postEnroll(port, token), 200);
      assert.is(reads.length, 0, 'an enrollment from a source with no failures reads no token row for the limiter');
      outcome = 'guess';
      assert.equal([await postEnroll(port, token), await postEnroll(port, token)], [401, 401]);
      assert.is(reads.length, 2, 'each failure is counted in its bucket, which takes the read');
      // The (address, token id) bucket is now full: the next request must find it, and is refused.
      outcome = 'issue';
      assert.is(await postEnroll(port, token), 429);
      assert.is(reads.length, 3);
      // Another id from the same address is in another bucket: let through.
      assert.is(await postEnroll(port, generateFleetToken().token), 200);
      assert.is(reads.length, 3);
    },
    options,
  );
});

test.run();
