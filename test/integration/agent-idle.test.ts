/**
 * An idle agent sleeps (issue 15 item 7): once enrolled and connected over mTLS, no timer of less
 * than a minute fires. node-cron's scheduler used to wake the process every second and the outbox
 * every two; on a board that is CPU and power for nothing. The timers are counted by a preload
 * (test/helpers/timer-tap.ts) that names where each was set.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent } from '../helpers/agent-process.js';
import { startDeviceFleet } from '../helpers/device-fleet.js';
import type { TimerFiring } from '../helpers/timer-tap.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('connected and idle for 8 s: no timer shorter than a minute fires', async () => {
  const fleet = await startDeviceFleet({ prefix: 'fleetcert-idle-', token: { name: 'idle' } });
  const tap = join(fleet.dir, 'timers.jsonl');
  const agent = startAgent(['run', ...fleet.agentArgs('idle')], { timerTap: tap });
  try {
    await agent.waitForEvent('mqtt_connected', 20_000);
    await agent.waitForEvent('renewal_planned', 10_000);
    // Start-up's own one-shot timers are over by then (the longest: the 3 s bound on the OS facts
    // that renewal-params asks for, whose timer is left to run out).
    await sleep(4_000);
    const from = Date.now();
    await sleep(8_000);
    const to = Date.now();
    const firings = (await readFile(tap, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TimerFiring)
      .filter((f) => f.at >= from && f.at <= to);
    assert.equal(
      firings.map((f) => `${f.kind}(${f.delayMs}) set at ${f.origin}`),
      [],
      `${firings.length} firings of short timers while idle`,
    );
  } finally {
    assert.is(await agent.stop(), 0);
    await fleet.stop();
  }
});

test.run();
