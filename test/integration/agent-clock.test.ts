/**
 * The clock floor through the real agent: the last known good time saved in the state directory
 * raises the floor, so a clock that runs behind it (a board without an RTC, booted at its image's
 * date) makes the agent wait before any TLS, bounded by clockWaitSeconds, and say so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { logRecords } from '../helpers/agent-process.js';
import { fleetcertAgent } from '../helpers/cli.js';
import { withTempDir } from '../helpers/temp-dir.js';

test('a saved last-known-good time ahead of the clock: the agent waits (clock_waiting, floor "saved"), then goes on', async () => {
  await withTempDir(async (dir) => {
    const state = join(dir, 'state');
    await mkdir(state, { mode: 0o700 });
    const lastGood = new Date(Date.now() + 24 * 3600_000);
    await writeFile(join(state, 'clock'), `${lastGood.toISOString()}\n`);
    const config = join(dir, 'agent.json');
    await writeFile(config, JSON.stringify({ clockWaitSeconds: 1 }));
    const res = await fleetcertAgent(['enroll', '--config', config, '--state-dir', state, '--bootstrap', join(dir, 'none.json')]);
    const events = logRecords(res.stderr);
    const waiting = events.find((r) => r.event === 'clock_waiting');
    assert.ok(waiting, res.stderr);
    assert.is(waiting!.floorSource, 'saved');
    assert.is(waiting!.notBefore, lastGood.toISOString());
    assert.ok(
      events.some((r) => r.event === 'clock_still_wrong'),
      'gives up after the bound and says so',
    );
    assert.is(res.code, 5, 'then goes on: here to "no bootstrap file"');
  });
});

test.run();
