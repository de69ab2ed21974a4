/** The outbox against a real directory: order, at-least-once, bad files kept aside, never lost. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { enqueueMessage, OutboxPublisher } from '#agent/outbox/outbox.js';
import { silentLogger } from '#shared/log/logger.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const settle = async (until: () => boolean) => {
  for (let i = 0; i < 100 && !until(); i += 1) await new Promise((r) => setTimeout(r, 20));
};

test('publishes in order, deletes only after the ack, keeps what failed for the next drain', async () => {
  await withTempDir(async (dir) => {
    const outbox = join(dir, 'outbox');
    for (let i = 1; i <= 5; i += 1) await enqueueMessage(outbox, { topic: 'telemetry', payload: `m${i}` });
    assert.is((await stat(outbox)).mode & 0o777, 0o700);
    const sent: string[] = [];
    let online = false;
    const publisher = new OutboxPublisher({
      dir: outbox,
      log: silentLogger,
      pollMs: 50,
      publish: async (topic, payload) => {
        if (!online) throw new Error('not connected');
        if (payload.toString() === 'm3' && !sent.includes('m3-failed-once')) {
          sent.push('m3-failed-once');
          throw new Error('no PUBACK');
        }
        sent.push(`${topic}:${payload.toString()}`);
      },
    });
    await publisher.start();
    await new Promise((r) => setTimeout(r, 150));
    assert.is((await readdir(outbox)).filter((n) => n.endsWith('.json')).length, 5, 'nothing leaves while offline');
    online = true;
    publisher.kick();
    await settle(() => sent.length >= 6);
    await publisher.stop();
    assert.equal(sent, ['telemetry:m1', 'telemetry:m2', 'm3-failed-once', 'telemetry:m3', 'telemetry:m4', 'telemetry:m5']);
    assert.equal(
      (await readdir(outbox)).filter((n) => n.endsWith('.json')),
      [],
    );
  });
});

test('a file that is not a message is moved to rejected/, and the rest still go out', async () => {
  await withTempDir(async (dir) => {
    const outbox = join(dir, 'outbox');
    await enqueueMessage(outbox, { topic: 'a', payload: 'first' });
    await writeFile(join(outbox, '000000000000001-garbage.json'), '{not json');
    await writeFile(join(outbox, '000000000000002-wildcard.json'), JSON.stringify({ topic: 'x/#', payload: 'p' }));
    await enqueueMessage(outbox, { topic: 'b', payload: Buffer.from([0, 255]).toString('base64'), encoding: 'base64' });
    const sent: string[] = [];
    const publisher = new OutboxPublisher({
      dir: outbox,
      log: silentLogger,
      publish: async (topic, payload) => void sent.push(`${topic}:${payload.toString('hex')}`),
    });
    await publisher.start();
    await settle(() => sent.length >= 2);
    await publisher.stop();
    assert.equal(sent, [`a:${Buffer.from('first').toString('hex')}`, 'b:00ff']);
    assert.equal((await readdir(join(outbox, 'rejected'))).sort(), ['000000000000001-garbage.json', '000000000000002-wildcard.json']);
  });
});

test('enqueue refuses wildcards, a leading slash and oversized messages', async () => {
  await withTempDir(async (dir) => {
    for (const topic of ['a/+/b', '#', '/abs', '']) await expectCode(() => enqueueMessage(dir, { topic, payload: 'x' }), 'usage');
    await expectCode(() => enqueueMessage(dir, { topic: 'big', payload: 'x'.repeat(300 * 1024) }), 'usage');
  });
});

test.run();
