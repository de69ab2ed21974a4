import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DerReader } from '#shared/pki/der-reader.js';
import { expectCode } from '../../../helpers/expect-error.js';

const reader = (hex: string) => new DerReader(Buffer.from(hex, 'hex'), 'csr_invalid');

test('walks a structure: children, OIDs, integers, bit strings, raw encodings', () => {
  // SEQUENCE { INTEGER 0, OID 1.2.840.10045.2.1, BIT STRING 00 ab }
  const r = reader(['3010', '020100', '06072a8648ce3d0201', '030200ab'].join(''));
  const [version, oid, bits] = r.expect(r.root(), 0x30, 'test', 3, 3);
  assert.is(r.smallInteger(version, 'version'), 0);
  assert.is(r.objectIdentifier(oid, 'oid'), '1.2.840.10045.2.1');
  assert.is(Buffer.from(r.bitStringBytes(bits, 'bits')).toString('hex'), 'ab');
  assert.is(Buffer.from(r.encoding(bits!)).toString('hex'), '030200ab');
  const long = reader(`308180047e${'00'.repeat(126)}`);
  assert.is(long.children(long.root()).length, 1, 'long-form length 0x81 0x80');
  assert.is(reader('0603550403').objectIdentifier(reader('0603550403').root(), 'cn'), '2.5.4.3');
  const two = reader('06028837'); // first subidentifier 1079 = 2*40 + 999
  assert.is(two.objectIdentifier(two.root(), 'x'), '2.999');
});

test('a time inside an uninterpreted value must be a DER time (the reference parser refuses others)', async () => {
  for (const good of ['170d3236303130313030303030305a', '180f32303530303130313030303030305a', '181132303530303130313030303030302e355a']) {
    const r = reader(good);
    r.wellFormed(r.root());
  }
  // A UTCTime of one byte 07 (a mutation the CSR differential test met), no Z, a fraction with a trailing zero.
  for (const bad of ['170107', '170c323630313031303030303030', '181132303530303130313030303030302e305a']) {
    await expectCode(() => {
      const r = reader(bad);
      r.wellFormed(r.root());
    }, 'csr_invalid');
  }
});

test('refuses what is not DER, with the caller code', async () => {
  for (const bad of [
    '', // nothing
    '30', // truncated header
    '30800000', // indefinite length
    '3081050500050000', // long form where short fits
    '308200050500050000', // leading zero length byte
    '3084ffffffff', // too large
    '30030500', // runs past the end
    '300000', // trailing byte
    '1f0100', // multi-byte tag
    '2000', // constructed end-of-contents
    '1000', // primitive SEQUENCE
    '2400', // constructed OCTET STRING (BER only)
  ]) {
    await expectCode(() => reader(bad).root(), 'csr_invalid');
  }
  await expectCode(() => {
    const r = reader('0400');
    r.objectIdentifier(r.root(), 'x');
  }, 'csr_invalid');
  await expectCode(() => {
    const r = reader('06028001');
    r.objectIdentifier(r.root(), 'x');
  }, 'csr_invalid');
  await expectCode(() => {
    const r = reader('060181');
    r.objectIdentifier(r.root(), 'x');
  }, 'csr_invalid');
  await expectCode(() => {
    const r = reader('030201ab');
    r.bitStringBytes(r.root(), 'x');
  }, 'csr_invalid');
  await expectCode(() => {
    const r = reader('020180');
    r.smallInteger(r.root(), 'x');
  }, 'csr_invalid');
  await expectCode(() => {
    const r = reader('02020001');
    r.smallInteger(r.root(), 'x');
  }, 'csr_invalid');
  await expectCode(() => {
    const r = reader('0500');
    r.children(r.root());
  }, 'csr_invalid');
  await expectCode(() => {
    const r = reader('3000');
    r.expect(r.root(), 0x31, 'set');
  }, 'csr_invalid');
});

test.run();
