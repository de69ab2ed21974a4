/** The clock floor and the wait for a plausible clock, with injected clocks: no real sleeping. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_TIME } from '#agent/clock/build-time.js';
import { AGENT_BUILD_TIME, clockFloor, currentClockFloor, readSavedTime, SavedClock } from '#agent/clock/clock-floor.js';
import { clockSkew } from '#agent/clock/clock-skew.js';
import { clockIsPlausible, waitForClock } from '#agent/clock/wait-for-clock.js';
import { silentLogger } from '#shared/log/logger.js';
import { memoryLog } from '../../../helpers/memory-log.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { repoPath } from '../../../helpers/repo.js';

const build = new Date('2026-11-01T00:00:00Z');
const floor = { floor: build, source: 'build' as const };

test('a clock before the floor is not plausible (a board booting in 1970)', () => {
  assert.not.ok(clockIsPlausible(new Date('1970-01-01T00:00:05Z'), build));
  assert.ok(clockIsPlausible(new Date('2026-11-22T10:00:00Z'), build));
});

test('floor = max(build time, saved time)', () => {
  assert.equal(clockFloor(build, undefined), { floor: build, source: 'build' });
  assert.equal(clockFloor(build, new Date('2026-10-01T00:00:00Z')), { floor: build, source: 'build' }, 'a saved time below the build time');
  const later = new Date('2027-03-01T12:00:00Z');
  assert.equal(clockFloor(build, later), { floor: later, source: 'saved' });
});

test('a wrong clock waits until NTP sets it, without sleeping for real; gives up after the bound', async () => {
  const readings = [new Date('1970-01-01T00:00:05Z'), new Date('1970-01-01T00:00:07Z'), new Date('2026-11-22T10:00:00Z')];
  let sleeps = 0;
  const logged = memoryLog();
  const ok = await waitForClock({
    floor,
    maxWaitSeconds: 60,
    log: logged.log,
    now: () => readings[Math.min(sleeps, 2)]!,
    sleep: async () => void (sleeps += 1),
  });
  assert.ok(ok);
  assert.is(sleeps, 2);
  assert.is(logged.events('clock_waiting')[0]?.floorSource, 'build');
  assert.is(logged.events('clock_set').length, 1);
  const never = await waitForClock({ floor, maxWaitSeconds: 0, log: silentLogger, now: () => readings[0]!, sleep: async () => undefined });
  assert.not.ok(never, 'gives up after the bound');
});

test('the saved time raises the floor: a clock past the build time but before the saved time still waits', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'clock');
    const seen = new Date('2030-05-01T08:00:00Z');
    await new SavedClock(path, silentLogger).save(seen);
    assert.equal(await readSavedTime(path), seen);
    const raised = clockFloor(build, await readSavedTime(path));
    assert.is(raised.source, 'saved');
    // The image's date (after the build, before the last good time): not plausible.
    const imageDate = new Date('2027-01-01T00:00:00Z');
    assert.not.ok(
      await waitForClock({ floor: raised, maxWaitSeconds: 0, log: silentLogger, now: () => imageDate, sleep: async () => undefined }),
    );
    const floorNow = await currentClockFloor(path);
    assert.equal(floorNow, { floor: seen, source: 'saved' }, 'the agent reads the same file');
  });
});

test('saving: write new + rename, at most once per interval, never backwards; garbage in the file is ignored', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'clock');
    const clock = new SavedClock(path, silentLogger, 3600_000);
    const t0 = new Date('2030-05-01T08:00:00Z');
    await clock.save(t0);
    await clock.save(new Date(t0.getTime() + 60_000));
    assert.equal(await readSavedTime(path), t0, 'within the interval: not written again');
    await clock.save(new Date(t0.getTime() + 3600_000));
    assert.equal(await readSavedTime(path), new Date(t0.getTime() + 3600_000));
    await new SavedClock(path, silentLogger).save(new Date('2029-01-01T00:00:00Z'));
    assert.equal(await readSavedTime(path), new Date(t0.getTime() + 3600_000), 'a clock gone backwards does not lower the floor');
    assert.is((await stat(path)).mode & 0o777, 0o644);
    for (const junk of ['', 'yesterday', '2030-05-01', '9'.repeat(100), '\u0000\u0000']) {
      await writeFile(path, junk);
      assert.is(await readSavedTime(path), undefined, JSON.stringify(junk));
    }
    assert.is(await readSavedTime(join(dir, 'missing')), undefined);
  });
});

test('skew: a server Date header more than 5 minutes away is reported with both times; near or malformed is not', () => {
  const device = new Date('2026-11-22T10:00:00Z');
  assert.is(clockSkew('Sun, 22 Nov 2026 10:04:59 GMT', device), undefined);
  const behind = clockSkew('Sun, 22 Nov 2026 10:06:00 GMT', device);
  assert.equal(behind, { serverTime: new Date('2026-11-22T10:06:00Z'), deviceTime: device, skewSeconds: 360 });
  assert.is(clockSkew('Thu, 01 Jan 1970 00:00:00 GMT', device)?.skewSeconds, -Math.round(device.getTime() / 1000));
  assert.is(clockSkew(undefined, device), undefined);
  assert.is(clockSkew('not a date', device), undefined);
  assert.is(clockSkew('x'.repeat(1000), device), undefined);
});

test('the build stamp: scripts/stamp-build.mjs rewrites only the compiled constant; the compiled agent carries it', async () => {
  assert.equal(AGENT_BUILD_TIME, new Date(BUILD_TIME));
  assert.ok(AGENT_BUILD_TIME.getTime() >= Date.parse('2026-11-29T00:00:00Z'), 'not before the committed release date');
  assert.ok(AGENT_BUILD_TIME.getTime() <= Date.now(), 'not in the future');
  const script = repoPath('scripts', 'stamp-build.mjs');
  const { stampBuildTime } = (await import(script)) as { stampBuildTime: (file: string, now: Date) => Date };
  await withTempDir(async (dir) => {
    const file = join(dir, 'build-time.js');
    await writeFile(file, "/** doc */\nexport const BUILD_TIME = '2026-11-29T00:00:00.000Z';\n//# sourceMappingURL=build-time.js.map\n");
    stampBuildTime(file, new Date('2031-02-03T04:05:06Z'));
    assert.is(
      await readFile(file, 'utf8'),
      "/** doc */\nexport const BUILD_TIME = '2031-02-03T04:05:06.000Z';\n//# sourceMappingURL=build-time.js.map\n",
    );
    await writeFile(file, 'export const OTHER = 1;\n');
    assert.throws(() => stampBuildTime(file, new Date()), /expected one BUILD_TIME/);
  });
});

test.run();
