/**
 * Two-phase renewal on the agent (issue 11 item 2): a renewed certificate is installed beside
 * `live` as a candidate, proven by a mutual-TLS connection to the real Mosquitto, and only then
 * made live. When it cannot connect (the broker is down), the previous certificate stays live and
 * keeps working, and the next start proves the candidate (the server's current certificate) and
 * commits it, without asking the server for another one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsIn, startAgent } from '../helpers/agent-process.js';
import { fleetcertAgent } from '../helpers/cli.js';
import { registrySnapshot } from '../helpers/fleet-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { startDeviceFleet, type DeviceFleet } from '../helpers/device-fleet.js';

const ctx: { devices?: DeviceFleet; broker?: Broker } = {};
const it = suite('agent-two-phase', ctx);

it.before(async () => {
  ctx.devices = await startDeviceFleet({ prefix: 'fleetcert-two-phase-', token: { name: 'two-phase', uses: 10 } });
});
it.after(async () => {
  await ctx.broker?.stop();
  await ctx.devices?.stop();
});

const stateOf = (name: string) => ctx.devices!.stateDir(name);
const agentArgs = (name: string) => ctx.devices!.agentArgs(name);

function activeSerial(name: string): string | undefined {
  const certificates = registrySnapshot(ctx.devices!.fleet.server.dataDir).certificates as {
    serial: string;
    device_id: string;
    status: string;
  }[];
  return certificates.find((c) => c.device_id.startsWith(`${name}-`) && c.status === 'active')?.serial;
}

async function enroll(name: string): Promise<string> {
  const res = await fleetcertAgent(['enroll', '--json', ...agentArgs(name)]);
  assert.is(res.code, 0, res.stderr);
  return String(JSON.parse(res.stdout).serialNumber);
}

it('renew: the candidate is installed beside live, proven at the broker, then committed', async () => {
  const before = await enroll('proven');
  const res = await fleetcertAgent(['renew', '--force', '--json', ...agentArgs('proven')]);
  assert.is(res.code, 0, res.stderr);
  const order = ['renewal_candidate_installed', 'renewal_proven', 'certificate_renewed'].map((event) => {
    const records = eventsIn(res.stderr, event);
    assert.is(records.length, 1, `${event} logged once:\n${res.stderr}`);
    return res.stderr.indexOf(`"event":"${event}"`);
  });
  assert.equal(
    [...order].sort((a, b) => a - b),
    order,
    'installed, then proven, then committed',
  );
  const installed = eventsIn(res.stderr, 'renewal_candidate_installed')[0]!;
  assert.equal([installed.liveGeneration, installed.generation], ['000001', '000002'], 'live stayed on the old generation until the proof');
  const serial = String(JSON.parse(res.stdout).serialNumber);
  assert.is.not(serial, before);
  assert.is(eventsIn(res.stderr, 'renewal_proven')[0]!.serial, serial, 'the proof used the new certificate');
  assert.is(await readlink(join(stateOf('proven'), 'live')), 'generations/000002');
  assert.is(activeSerial('proven'), serial);
});

it('a candidate that cannot connect: the old certificate stays live and working; the next start proves and commits it', async () => {
  const old = await enroll('unproven');
  const service = startAgent(['run', ...agentArgs('unproven')]);
  try {
    assert.is((await service.waitForEvent('mqtt_connected')).serial, old);
    await ctx.devices!.fleet.broker.stop();

    const res = await fleetcertAgent(['renew', '--force', '--json', ...agentArgs('unproven')]);
    assert.is(res.code, 5, `exit 5 (not ready): ${res.stderr}`);
    assert.is(JSON.parse(res.stdout.trim().split('\n').at(-1)!).code, 'renewal_unproven');
    const [unproven] = eventsIn(res.stderr, 'renewal_unproven');
    if (!unproven) throw new Error(`no renewal_unproven:\n${res.stderr}`);
    assert.is(unproven.liveSerial, old);
    const candidate = String(unproven.serial);
    assert.is(activeSerial('unproven'), candidate, "the candidate is the server's current certificate");
    assert.is(await readlink(join(stateOf('unproven'), 'live')), 'generations/000001', 'live did not move');
    assert.equal((await readdir(join(stateOf('unproven'), 'generations'))).sort(), ['000001', '000002'], 'the candidate is kept');
    assert.is(eventsIn(res.stderr, 'certificate_renewed').length, 0);
    const status = await fleetcertAgent(['status', '--json', ...agentArgs('unproven')]);
    assert.equal(
      [JSON.parse(status.stdout).serialNumber, JSON.parse(status.stdout).candidate],
      [old, { serialNumber: candidate, generation: '000002' }],
      'status reports it',
    );

    // The broker comes back: the running service reconnects with the old certificate, which still works.
    ctx.broker = await startMosquitto(ctx.devices!.dir, ctx.devices!.fleet.outDir, join(ctx.devices!.dir, 'run', 'mosquitto.pid'));
    assert.is((await service.waitForEvent('mqtt_connected', 30_000, { count: 2 })).serial, old);
  } finally {
    assert.is(await service.stop(), 0);
  }

  // The next start finishes the renewal: the candidate is proven and committed, not renewed again.
  const restarted = startAgent(['run', ...agentArgs('unproven')]);
  try {
    const resumed = await restarted.waitForEvent('renewal_resumed', 20_000);
    const candidate = String(resumed.serial);
    await restarted.waitForEvent('certificate_renewed', 20_000);
    await restarted.waitForEvent('mqtt_connected', 20_000, { match: { serial: candidate } });
    assert.is(restarted.events('renewal_started').length, 0, 'no new certificate was asked for');
    assert.is(activeSerial('unproven'), candidate);
  } finally {
    assert.is(await restarted.stop(), 0);
  }
  assert.is(await readlink(join(stateOf('unproven'), 'live')), 'generations/000002');
});

it.run();
