/**
 * The renewal lock against the real agent: a lock left before a power cut (a live pid, from
 * another boot or as the bare pid older agents wrote) no longer blocks renewal; a live holder in
 * this boot still does (exit 4), and the service logs every check it skips. The "holder" is this
 * test process: alive, with a real boot id and start time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatHolder, thisProcess } from '#agent/renewal/lock-holder.js';
import { eventsIn, startAgent } from '../helpers/agent-process.js';
import { fleetcertAgent } from '../helpers/cli.js';
import { startDeviceFleet, type DeviceFleet } from '../helpers/device-fleet.js';

const ctx: { devices?: DeviceFleet } = {};
const it = suite('renewal-lock', ctx);

it.before(async () => {
  // 12-second certificates: the service's renewal is due 6 s after each install.
  ctx.devices = await startDeviceFleet({
    prefix: 'fleetcert-lock-',
    token: { name: 'lock', uses: 10 },
    serverArgs: ['--device-lifetime', '12s', '--backdate', '1s'],
  });
});
it.after(async () => {
  await ctx.devices?.stop();
});

const agentArgs = (name: string) => ctx.devices!.agentArgs(name);

async function enrolled(name: string): Promise<string> {
  const res = await fleetcertAgent(['enroll', ...agentArgs(name)]);
  assert.is(res.code, 0, res.stderr);
  return ctx.devices!.stateDir(name);
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

it('a lock naming a live pid from before a power cut (another boot, or a bare pid) does not block renew', async () => {
  const state = await enrolled('stale');
  const lock = join(state, 'renew.lock');
  for (const [text, reason] of [
    [`${process.pid}\n`, 'unknown_holder'],
    [formatHolder({ ...thisProcess(), bootId: '00000000-0000-4000-8000-000000000000' }), 'another_boot'],
  ] as const) {
    await writeFile(lock, text);
    const res = await fleetcertAgent(['renew', '--force', '--json', ...agentArgs('stale')]);
    assert.is(res.code, 0, `${reason}: ${res.stderr}`);
    assert.is(JSON.parse(res.stdout).renewed, true);
    assert.is(eventsIn(res.stderr, 'renewal_lock_stale', { reason }).length, 1, res.stderr);
    assert.not.ok(await exists(lock), 'released');
  }
});

it('a live holder in this boot blocks: renew exits 4 (renewal_in_progress); the service logs every skipped check', async () => {
  const state = await enrolled('live');
  const lock = join(state, 'renew.lock');
  const text = formatHolder({ ...thisProcess(), nonce: 'abcdef012345' });
  await writeFile(lock, text);
  const res = await fleetcertAgent(['renew', '--force', '--json', ...agentArgs('live')]);
  assert.is(res.code, 4, res.stderr);
  assert.is(JSON.parse(res.stdout).code, 'renewal_in_progress');
  assert.is(await readFile(lock, 'utf8'), text, 'the holder keeps its lock');

  const agent = startAgent(['run', ...agentArgs('live'), '--renew-check', '* * * * * *', '--renew-retry-seconds', '1']);
  try {
    const skipped = await agent.waitForEvent('renewal_skipped', 20_000, { count: 2 });
    assert.is(skipped.reason, 'renewal_in_progress');
    assert.is((skipped.holder as { pid: number }).pid, process.pid);
    assert.is(agent.events('certificate_renewed').length, 0);
    await rm(lock);
    await agent.waitForEvent('certificate_renewed', 15_000);
  } finally {
    assert.is(await agent.stop(), 0);
  }
});

it.run();
