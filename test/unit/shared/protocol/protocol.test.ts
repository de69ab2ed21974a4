import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDuration, parseDuration } from '#shared/duration.js';
import { deviceIdProblem } from '#shared/protocol/device-id.js';
import { encodeMetadataHeader, parseMetadataHeader } from '#shared/protocol/device-metadata.js';
import { decodeBase64Body, decodeCsrBody, encodeBase64Body } from '#shared/protocol/est.js';
import { WIRE_ERROR_CODES } from '#shared/protocol/error-codes.js';
import { ERROR_CODES } from '#shared/errors.js';

test('durations: strict units, combinations, round trip', () => {
  assert.is(parseDuration('90s'), 90);
  assert.is(parseDuration('14d'), 14 * 86400);
  assert.is(parseDuration('1d12h'), 36 * 3600);
  assert.is(parseDuration('2w'), 14 * 86400);
  for (const bad of ['', '14', '14 days', '-1d', '0s', '1.5h', 'd']) assert.is(parseDuration(bad), undefined, bad);
  assert.is(formatDuration(14 * 86400), '14d');
  assert.is(formatDuration(90), '90s');
});

test('device ids: syntax and reserved names', () => {
  assert.is(deviceIdProblem('rpi4-10000000abcdef01'), undefined);
  assert.is(deviceIdProblem('opi.pc_02-c0'), undefined);
  for (const bad of ['', '-rpi', '.hidden', 'a/b', 'a+b', 'a#b', '$SYS', 'a b', 'ü', 'x'.repeat(65)])
    assert.is(deviceIdProblem(bad), 'invalid', bad);
  for (const reserved of ['admin', 'Fleetcert', 'fleetcert-server', 'MOSQUITTO'])
    assert.is(deviceIdProblem(reserved), 'reserved', reserved);
});

test('EST bodies: base64 with any line wrapping, PEM-wrapped CSRs; anything else is undefined', () => {
  const der = new Uint8Array(Array.from({ length: 300 }, (_, i) => i % 256));
  const wrapped = encodeBase64Body(der);
  assert.ok(wrapped.split('\n').every((l) => l.length <= 64));
  assert.equal(decodeBase64Body(wrapped), der);
  assert.equal(decodeBase64Body(wrapped.replace(/\n/g, '\r\n')), der);
  assert.equal(decodeCsrBody(Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${wrapped}-----END CERTIFICATE REQUEST-----\n`)), der);
  for (const bad of ['', 'abc', 'a===', 'ab$=', '====']) assert.is(decodeBase64Body(bad), undefined, bad);
});

test('device metadata header: round trip; unknown fields, control characters, oversize are refused', () => {
  const meta = { model: 'Raspberry Pi 4 Model B Rev 1.4', serial: '10000000abcdef01', mac: 'dc:a6:32:01:02:03' };
  assert.equal(parseMetadataHeader(encodeMetadataHeader(meta)), meta);
  assert.is(parseMetadataHeader(undefined), undefined);
  assert.throws(() => parseMetadataHeader(Buffer.from(JSON.stringify({ extra: 1 })).toString('base64url')));
  assert.throws(() => parseMetadataHeader(Buffer.from(JSON.stringify({ model: 'a\nb' })).toString('base64url')));
  assert.throws(() => parseMetadataHeader('A'.repeat(3000)));
  assert.throws(() => parseMetadataHeader('not json!'));
});

test.run();

test('wire error codes: exactly the codes that carry an HTTP status, so the agent knows every refusal the server can send', () => {
  const withStatus = Object.entries(ERROR_CODES)
    .filter(([, info]) => 'status' in info)
    .map(([code]) => code)
    .sort();
  assert.equal([...WIRE_ERROR_CODES].sort(), withStatus);
});
