/** The wire error codes: one list, the server's table agrees with it, the agent parses and advises by it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { refusalAdvice } from '#agent/enrollment/refusal-advice.js';
import { ERROR_CODES } from '#shared/errors.js';
import { WIRE_ERROR_CODES } from '#shared/protocol/error-codes.js';
import { errorBody, errorBodySchema } from '#shared/protocol/est.js';

test('the wire codes are exactly the codes that carry an HTTP status', () => {
  const withStatus = Object.entries(ERROR_CODES)
    .filter(([, info]) => (info as { status?: number }).status !== undefined)
    .map(([code]) => code)
    .sort();
  assert.equal([...WIRE_ERROR_CODES].sort(), withStatus);
});

test('a refusal body parses with the one enum schema; an unknown code does not; a local code is never sent', () => {
  assert.ok(errorBodySchema.safeParse(errorBody('id_taken')).success);
  assert.not.ok(errorBodySchema.safeParse({ code: 'id_takne', message: 'x' }).success);
  assert.is(errorBody('ca_missing').code, 'internal');
});

test('advice for every wire code and for an unknown answer; only operator-fixable codes stop the retries', () => {
  for (const code of WIRE_ERROR_CODES) assert.ok(refusalAdvice(code, 'dev-1').message.length > 0, code);
  assert.match(refusalAdvice('id_taken', 'dev-1').message, /fleetcert device reset dev-1/);
  assert.ok(refusalAdvice('token_expired', 'dev-1').needsOperator);
  assert.not.ok(refusalAdvice('rate_limited', 'dev-1').needsOperator);
  assert.equal(refusalAdvice('http_502', 'dev-1'), { message: 'the server refused with http_502: retrying later', needsOperator: false });
});

test.run();
