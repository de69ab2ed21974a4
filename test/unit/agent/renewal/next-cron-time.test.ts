/** The next moment of the safety-net schedule, with fixed dates in local time (cron speaks local time). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CRON_HORIZON_MS, nextCronTime } from '#agent/renewal/next-cron-time.js';

/** 2026-06-02 (or the given day) at h:m:s.ms local time. */
const at = (h: number, m: number, s = 0, ms = 0, day = 2) => new Date(2026, 5, day, h, m, s, ms);

test('the default "*/15 * * * *": the next quarter-hour, strictly after the given moment', () => {
  assert.equal(nextCronTime('*/15 * * * *', at(0, 0, 30)), at(0, 15));
  assert.equal(nextCronTime('*/15 * * * *', at(0, 15)), at(0, 30));
  assert.equal(nextCronTime('*/15 * * * *', at(0, 14, 59, 999)), at(0, 15));
  assert.equal(nextCronTime('*/15 * * * *', at(0, 1)), at(0, 15), 'a remembered answer still holds');
});

test('six fields are seconds (the tests\' "* * * * * *"); one that names nothing within a day waits a day', () => {
  assert.equal(nextCronTime('* * * * * *', at(0, 0, 0, 400)), at(0, 0, 1));
  assert.equal(nextCronTime('30 2 * * *', at(3, 0)), at(2, 30, 0, 0, 3));
  assert.equal(nextCronTime('0 0 1 1 *', at(0, 0)), new Date(at(0, 0).getTime() + CRON_HORIZON_MS));
});

test.run();
