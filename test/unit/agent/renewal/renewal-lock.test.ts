/** The renewal lock dies with its holder: another boot, a gone process or a reused pid is stale; a live holder blocks. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { currentBootId, formatHolder, parseHolder, processStartTime, staleReason, thisProcess } from '#agent/renewal/lock-holder.js';
import { RenewalInProgress, withRenewalLock } from '#agent/renewal/renewal-lock.js';
import { silentLogger } from '#shared/log/logger.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { memoryLog } from '../../../helpers/memory-log.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const holder = { pid: 4242, bootId: 'boot-a', startTime: '1000' };
const alive = { bootId: 'boot-a', pidAlive: true, startTime: '1000' };

test('staleReason: the rule, fact by fact', () => {
  assert.is(staleReason(holder, alive), undefined, 'same boot, same process: still renewing');
  assert.is(staleReason(holder, { ...alive, bootId: 'boot-b' }), 'another_boot', 'a live pid from before a power cut');
  assert.is(staleReason(holder, { ...alive, pidAlive: false, startTime: undefined }), 'holder_gone');
  assert.is(staleReason(holder, { ...alive, startTime: '2000' }), 'pid_reused');
  assert.is(staleReason(undefined, alive), 'unknown_holder', 'a bare pid (older agents) or a torn file');
  // Without /proc facts the judgement falls back to what is left, down to the plain pid check.
  assert.is(
    staleReason({ pid: 4242, bootId: undefined, startTime: undefined }, { bootId: 'boot-b', pidAlive: true, startTime: '2000' }),
    undefined,
  );
  assert.is(staleReason({ ...holder, bootId: undefined }, { ...alive, startTime: '2000' }), 'pid_reused');
});

test('parseHolder reads what formatHolder writes, and nothing an older agent wrote', () => {
  assert.equal(parseHolder(formatHolder(holder)), holder);
  assert.is(parseHolder('4242\n'), undefined);
  assert.is(parseHolder('{"pid":'), undefined);
  assert.is(parseHolder('{"pid":-1}'), undefined);
});

test('this process on Linux: a boot id and a start time that /proc/<pid>/stat confirms', () => {
  const me = thisProcess();
  assert.match(me.bootId ?? '', /^[0-9a-f-]{36}$/);
  assert.match(me.startTime ?? '', /^\d+$/);
  assert.is(processStartTime(process.pid), me.startTime);
  assert.is(processStartTime(1 << 30), undefined);
  assert.is(currentBootId('/nonexistent'), undefined, 'no /proc: no boot id, the fallback');
});

async function lockedBy(dir: string, text: string): Promise<string> {
  const path = join(dir, 'renew.lock');
  await writeFile(path, text);
  return path;
}

test('a lock naming this live process from another boot, or as a bare pid, is taken over and logged', async () => {
  await withTempDir(async (dir) => {
    for (const [text, reason] of [
      [formatHolder({ ...thisProcess(), bootId: 'another-boot' }), 'another_boot'],
      [`${process.pid}\n`, 'unknown_holder'],
      [formatHolder({ ...thisProcess(), startTime: '1' }), 'pid_reused'],
      [formatHolder({ ...thisProcess(), pid: 1 << 30 }), 'holder_gone'],
    ] as const) {
      const path = await lockedBy(dir, text);
      const logged = memoryLog();
      let ran = false;
      await withRenewalLock(path, logged.log, async () => {
        ran = true;
        const { nonce, ...named } = parseHolder(await readFile(path, 'utf8'))!;
        assert.equal(named, thisProcess(), 'the lock names us while we work');
        assert.match(nonce ?? '', /^[0-9a-f]{24}$/);
      });
      assert.ok(ran, reason);
      assert.is(logged.events('renewal_lock_stale')[0]?.reason, reason);
      assert.equal(await readdir(dir), [], 'released, no private or stale files left');
    }
  });
});

test('a taker that died while taking over is itself a stale holder: the chain is followed, the markers removed', async () => {
  await withTempDir(async (dir) => {
    const path = await lockedBy(dir, formatHolder({ ...thisProcess(), bootId: 'another-boot', nonce: 'aaaaaaaaaaaa' }));
    await writeFile(`${path}.takeover-aaaaaaaaaaaa`, formatHolder({ ...thisProcess(), pid: 1 << 30, nonce: 'bbbbbbbbbbbb' }));
    const logged = memoryLog();
    await withRenewalLock(path, logged.log, async () => {
      assert.equal(await readdir(dir), ['renew.lock']);
    });
    assert.is(logged.events('renewal_lock_stale')[0]?.reason, 'holder_gone', 'the dead taker');
    assert.equal(await readdir(dir), []);
  });
});

test('a taker in the middle of taking over (a live marker) blocks like a holder', async () => {
  await withTempDir(async (dir) => {
    const path = await lockedBy(dir, formatHolder({ ...thisProcess(), bootId: 'another-boot', nonce: 'aaaaaaaaaaaa' }));
    await writeFile(`${path}.takeover-aaaaaaaaaaaa`, formatHolder({ ...thisProcess(), nonce: 'bbbbbbbbbbbb' }));
    await expectCode(() => withRenewalLock(path, silentLogger, async () => undefined), 'renewal_in_progress');
  });
});

test('a live holder in this boot blocks, and its lock stays', async () => {
  await withTempDir(async (dir) => {
    const text = formatHolder(thisProcess());
    const path = await lockedBy(dir, text);
    const err = await expectCode(() => withRenewalLock(path, silentLogger, async () => undefined), 'renewal_in_progress');
    assert.instance(err, RenewalInProgress);
    assert.is((err as RenewalInProgress).holder?.pid, process.pid);
    assert.is(await readFile(path, 'utf8'), text);
    assert.equal(await readdir(dir), ['renew.lock']);
  });
});

test('many takers of one stale lock at once: exactly one works at a time, none is lost', async () => {
  await withTempDir(async (dir) => {
    const path = await lockedBy(dir, formatHolder({ ...thisProcess(), bootId: 'another-boot' }));
    let inside = 0;
    let most = 0;
    let done = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        withRenewalLock(path, silentLogger, async () => {
          inside += 1;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 20));
          inside -= 1;
          done += 1;
        }),
      ),
    );
    assert.is(most, 1);
    assert.ok(done >= 1);
    for (const r of results) if (r.status === 'rejected') assert.instance(r.reason, RenewalInProgress);
    assert.equal(await readdir(dir), []);
  });
});

test.run();
