import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tokenFromAuthorization } from '#server/est/basic-auth.js';
import { FailureLimiter } from '#server/est/failure-limiter.js';
import { parseListen } from '#server/commands/serve.js';
import { FleetcertError } from '#shared/errors.js';

const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

test('Basic auth: the part that looks like a token wins; garbage gives nothing', () => {
  assert.is(tokenFromAuthorization(basic('rpi-1:fct_abc')), 'fct_abc');
  assert.is(tokenFromAuthorization(basic('fct_abc:')), 'fct_abc');
  assert.is(tokenFromAuthorization(basic('fct_abc')), 'fct_abc');
  assert.is(tokenFromAuthorization(basic('user:secret')), 'secret');
  assert.is(tokenFromAuthorization('Bearer fct_abc'), undefined);
  assert.is(tokenFromAuthorization('Basic !!!'), undefined);
  assert.is(tokenFromAuthorization(undefined), undefined);
  assert.is(tokenFromAuthorization(basic('x'.repeat(2000))), undefined);
});

test('failure limiter: N failures in the window, then Retry-After until the window ends; bounded memory', () => {
  const limiter = new FailureLimiter({ maxFailures: 3, windowSeconds: 60, maxSources: 2 });
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);
  for (let i = 0; i < 2; i += 1) limiter.recordFailure('a', at(i));
  assert.is(limiter.retryAfter('a', at(2)), undefined);
  limiter.recordFailure('a', at(2));
  assert.is(limiter.retryAfter('a', at(10)), 50);
  assert.is(limiter.retryAfter('a', at(59.5)), 1);
  assert.is(limiter.retryAfter('a', at(60)), undefined, 'a new window');
  for (let i = 0; i < 3; i += 1) limiter.recordFailure('b', at(100));
  limiter.recordFailure('c', at(100));
  limiter.recordFailure('d', at(100)); // evicts the oldest (b)
  assert.is(limiter.retryAfter('b', at(101)), undefined);
});

test('--listen: host:port, [v6]:port, bare port; nonsense is a usage error', () => {
  assert.equal(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.equal(parseListen('[::1]:8443'), { host: '::1', port: 8443 });
  assert.equal(parseListen('8443'), { host: '0.0.0.0', port: 8443 });
  assert.equal(parseListen(':8443'), { host: '0.0.0.0', port: 8443 });
  for (const bad of ['host', 'a:b', '1:99999', '']) {
    assert.throws(
      () => parseListen(bad),
      (e: unknown) => e instanceof FleetcertError && e.code === 'usage',
    );
  }
});

test.run();
