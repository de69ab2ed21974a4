import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '#shared/log/logger.js';
import { redact } from '#shared/log/redact.js';
import { exportPrivateKeyPem, generateKeyPair } from '#shared/pki/key-pair.js';

function capture(level: 'debug' | 'info' = 'info') {
  const lines: string[] = [];
  const log = createLogger({ namespace: 'agent', level, sink: (l) => lines.push(l), now: () => new Date('2026-01-02T03:04:05Z') });
  return { log, lines };
}

test('one JSON object per line, namespaced, with fields', () => {
  const { log, lines } = capture();
  log.child('enroll').info('certificate installed', { serial: '01ab', notAfter: new Date('2026-02-01T00:00:00Z') });
  assert.is(lines.length, 1);
  assert.ok(lines[0]!.endsWith('\n'));
  assert.equal(JSON.parse(lines[0]!), {
    time: '2026-01-02T03:04:05.000Z',
    level: 'info',
    ns: 'agent:enroll',
    msg: 'certificate installed',
    serial: '01ab',
    notAfter: '2026-02-01T00:00:00.000Z',
  });
});

test('debug is lazy: below the level, the message function never runs', () => {
  const { log, lines } = capture('info');
  let called = false;
  log.debug(() => {
    called = true;
    return 'expensive';
  });
  assert.is(called, false);
  assert.is(lines.length, 0);
  const dbg = capture('debug');
  dbg.log.debug(
    () => 'now it runs',
    () => ({ n: 1 }),
  );
  assert.is(JSON.parse(dbg.lines[0]!).msg, 'now it runs');
});

test('a private key or a token that reaches the logger is redacted', async () => {
  const pem = await exportPrivateKeyPem(await generateKeyPair());
  const encrypted = await exportPrivateKeyPem(await generateKeyPair(), 'passphrase-123');
  const token = 'fct_k3y1d_' + 'A'.repeat(43);
  const { log, lines } = capture();
  log.error('oops', { body: `${pem}\n${encrypted}`, auth: `Basic ${token}`, err: new Error(`bad token ${token}`) });
  const line = lines[0]!;
  assert.not.match(line, 'BEGIN PRIVATE KEY');
  assert.not.match(line, 'BEGIN ENCRYPTED PRIVATE KEY');
  const body = pem.split('\n')[1]!;
  assert.not.ok(line.includes(body.slice(0, 40)), 'key body must not survive');
  assert.not.ok(line.includes('A'.repeat(43)));
  assert.match(line, 'fct_k3y1d_[redacted]');
});

test('redact: a truncated key block is still removed; ordinary text is untouched', () => {
  // The marker is assembled: no file in the repository holds a private-key block, even a torn one.
  const header = ['-----BEGIN', 'EC', 'PRIVATE', 'KEY-----'].join(' ');
  assert.is(redact(`x ${header}\nMHcCAQEE`), 'x [redacted private key]');
  assert.is(redact('serial 01ab, fingerprint 9f86d081'), 'serial 01ab, fingerprint 9f86d081');
  assert.is(redact('-----BEGIN CERTIFICATE-----'), '-----BEGIN CERTIFICATE-----');
});

test.run();
