import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toArrayBuffer, toDer, toPem } from '#shared/pki/encoding.js';

test('toPem and toArrayBuffer take only the view: a small Buffer from the shared pool does not drag the pool along', () => {
  const pooled = Buffer.concat([Buffer.from([0x30, 0x03]), Buffer.from([0x02, 0x01, 0x07])]);
  assert.ok(pooled.buffer.byteLength > pooled.length, 'Node put it in its pool (the case that went wrong)');
  assert.is(toArrayBuffer(pooled).byteLength, 5);
  assert.equal([...toDer(toPem(pooled, 'X'), 'crl_invalid', 100)], [0x30, 0x03, 0x02, 0x01, 0x07]);
});

test.run();
