import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  derBitString,
  derContext,
  derContextPrimitive,
  derDirectoryString,
  derEnumerated,
  derIa5String,
  derInteger,
  derLength,
  derNamedBits,
  derObjectIdentifier,
  derOctetString,
  derSequence,
  derSet,
  derTime,
  derTlv,
} from '#server/pki/der-writer.js';
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

test('enumerated values are encoded as integers are, under their own tag (a CRL reason code)', () => {
  assert.is(hex(derEnumerated(1)), '0a0101');
  assert.is(hex(derEnumerated(4)), '0a0104');
  assert.is(hex(derEnumerated(200)), '0a0200c8');
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

test('named bits: trailing zero bits dropped and counted (key usage values of RFC 5280)', () => {
  assert.is(hex(derNamedBits([0])), '03020780'); // digitalSignature
  assert.is(hex(derNamedBits([0, 2])), '030205a0'); // + keyEncipherment
  assert.is(hex(derNamedBits([5, 6])), '03020106'); // keyCertSign, cRLSign
  assert.is(hex(derNamedBits([8])), '0303070080'); // decipherOnly: the second byte
  assert.is(hex(derNamedBits([])), '030100');
});

test('strings, octets, bits and implicit tags', () => {
  assert.is(hex(derDirectoryString('dev-1.a')), `1307${Buffer.from('dev-1.a').toString('hex')}`);
  assert.is(hex(derDirectoryString('dev_1')), `0c05${Buffer.from('dev_1').toString('hex')}`, '_ is not printable: UTF8String');
  assert.is(hex(derDirectoryString('é')), '0c02c3a9');
  assert.is(hex(derIa5String('a.b')), '1603612e62');
  assert.is(hex(derIa5String('a.b', 2)), '8203612e62');
  assert.is(hex(derContextPrimitive(7, Uint8Array.of(127, 0, 0, 1))), '87047f000001');
  assert.is(hex(derOctetString(Uint8Array.of(1, 2))), '04020102');
  assert.is(hex(derBitString(Uint8Array.of(0xff))), '030200ff');
});

test('times: UTCTime through 2049, GeneralizedTime from 2050, whole seconds', () => {
  assert.is(Buffer.from(derTime(new Date('2026-03-01T12:00:05Z'))).toString('latin1'), '\x17\x0d260301120005Z');
  assert.is(Buffer.from(derTime(new Date('2049-12-31T23:59:59Z'))).toString('latin1'), '\x17\x0d491231235959Z');
  assert.is(Buffer.from(derTime(new Date('2050-01-01T00:00:00Z'))).toString('latin1'), '\x18\x0f20500101000000Z');
  assert.is(Buffer.from(derTime(new Date('1950-01-01T00:00:00Z'))).toString('latin1'), '\x17\x0d500101000000Z');
});

test('what cannot be encoded is refused', async () => {
  await expectCode(() => derTime(new Date('2026-03-01T12:00:05.500Z')), 'internal');
  await expectCode(() => derTime(new Date('1949-12-31T23:59:59Z')), 'internal');
  await expectCode(() => derIa5String('é'), 'internal');
  await expectCode(() => derNamedBits([-1]), 'internal');
  await expectCode(() => derLength(-1), 'internal');
  await expectCode(() => derInteger(-1), 'internal');
  await expectCode(() => derObjectIdentifier('1.40.1'), 'internal');
  await expectCode(() => derObjectIdentifier('3.1'), 'internal');
  await expectCode(() => derObjectIdentifier('1.2.'), 'internal');
  await expectCode(() => derContext(31, []), 'internal');
});

test.run();
