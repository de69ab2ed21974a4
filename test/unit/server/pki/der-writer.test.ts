import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { derContext, derInteger, derLength, derObjectIdentifier, derSequence, derSet, derTlv } from '../../../../server/pki/der-writer.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { openssl } from '../../../helpers/run.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

test('lengths: short form up to 127, then 0x81.., 0x82.. (X.690 §10.1)', () => {
  assert.is(hex(derLength(0)), '00');
  assert.is(hex(derLength(127)), '7f');
  assert.is(hex(derLength(128)), '8180');
  assert.is(hex(derLength(255)), '81ff');
  assert.is(hex(derLength(256)), '820100');
  assert.is(hex(derLength(65_536)), '83010000');
});

test('integers are minimal and positive', () => {
  assert.is(hex(derInteger(0)), '020100');
  assert.is(hex(derInteger(1)), '020101');
  assert.is(hex(derInteger(127)), '02017f');
  assert.is(hex(derInteger(128)), '02020080');
  assert.is(hex(derInteger(256)), '02020100');
  assert.is(hex(derInteger(0x7fffffffffffffffn)), '02087fffffffffffffff');
  assert.is(hex(derInteger(0x8000000000000000n)), '0209008000000000000000');
});

test('object identifiers: first two arcs joined, base-128 with continuation bits', () => {
  assert.is(hex(derObjectIdentifier('1.2.840.113549.1.7.2')), '06092a864886f70d010702');
  assert.is(hex(derObjectIdentifier('2.5.29.19')), '0603551d13');
  assert.is(hex(derObjectIdentifier('1.3.6.1.5.5.7.3.2')), '06082b06010505070302');
  assert.is(hex(derObjectIdentifier('2.999.3')), '0603883703');
});

test('constructed types concatenate their contents in order', () => {
  assert.is(hex(derSequence([])), '3000');
  assert.is(hex(derSet([])), '3100');
  assert.is(hex(derSequence([derInteger(1), derInteger(2)])), '3006020101020102');
  assert.is(hex(derContext(0, [derInteger(5)])), 'a003020105');
  assert.is(hex(derContext(3, [])), 'a300');
  const long = derTlv(0x04, [new Uint8Array(300)]);
  assert.is(hex(long.subarray(0, 4)), '04820' + '12c');
  assert.is(long.byteLength, 304);
});

test('openssl asn1parse reads a structure built here', async () => {
  const der = derSequence([derObjectIdentifier('1.2.840.113549.1.7.2'), derContext(0, [derSequence([derInteger(1), derSet([])])])]);
  const out = await openssl(['asn1parse', '-inform', 'DER'], der);
  assert.match(out, /OBJECT\s+:pkcs7-signedData/);
  assert.match(out, /cont \[ 0 \]/);
  assert.match(out, /INTEGER\s+:01/);
});

test('what cannot be encoded is refused', async () => {
  await expectCode(() => derLength(-1), 'internal');
  await expectCode(() => derInteger(-1), 'internal');
  await expectCode(() => derObjectIdentifier('1.40.1'), 'internal');
  await expectCode(() => derObjectIdentifier('3.1'), 'internal');
  await expectCode(() => derObjectIdentifier('1.2.'), 'internal');
  await expectCode(() => derContext(31, []), 'internal');
});

test.run();
