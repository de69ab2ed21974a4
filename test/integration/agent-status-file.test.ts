/**
 * The agent says how it is (issue 14 item 5): the running service keeps a status file that
 * `fleetcert-agent status` shows and exits by; an outage and its end are logged once each, as
 * such; a certificate made by `renew --force` reaches the running service at once (SIGHUP);
 * a revoked board is not reported as fine.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { startDeviceFleet, type DeviceFleet } from '../helpers/device-fleet.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';

const ctx: { devices?: DeviceFleet; broker?: Broker; agent?: AgentProcess } = {};
const it = suite('agent-status-file', ctx);

it.before(async () => {
  ctx.devices = await startDeviceFleet({ prefix: 'fleetcert-status-', token: { name: 'status', uses: 10 } });
});
it.after(async () => {
  await ctx.agent?.stop();
  await ctx.broker?.stop();
  await ctx.devices?.stop();
});

interface Status {
  health: string;
  serialNumber: string;
  agent: {
    running: boolean;
    pid: number;
    connection: { state: string };
    lastError: { code: string } | null;
    nextRenewalCheck: string | null;
    token: { location: string };
  } | null;
}

const status = async (name: string): Promise<{ code: number | null; body: Status }> => {
  const res = await fleetcertAgent(['status', '--json', ...ctx.devices!.agentArgs(name)]);
  return { code: res.code, body: JSON.parse(res.stdout) as Status };
};

it('status shows the running agent; an outage is logged once and its end as a reconnect; renew --force reaches it at once', async () => {
  const devices = ctx.devices!;
  const enrolled = await fleetcertAgent(['enroll', '--json', ...devices.agentArgs('pi')]);
  assert.is(enrolled.code, 0, enrolled.stderr);
  const agent = (ctx.agent = startAgent(['run', ...devices.agentArgs('pi')]));
  const first = await agent.waitForEvent('mqtt_connected');
  await agent.waitForEvent('renewal_planned');

  const online = await status('pi');
  assert.is(online.code, 0);
  assert.is(online.body.health, 'ok');
  assert.is(online.body.agent?.running, true);
  assert.is(online.body.agent?.connection.state, 'online');
  assert.is(online.body.agent?.token.location, 'state_dir');
  assert.ok(online.body.agent?.nextRenewalCheck, 'the next renewal check is known');
  assert.is((await stat(join(devices.stateDir('pi'), 'status.json'))).mode & 0o777, 0o644, 'no secret in it');

  // The broker goes away for a while and comes back.
  await devices.fleet.broker.stop();
  await agent.waitForEvent('mqtt_connection_lost', 10_000);
  await new Promise((r) => setTimeout(r, 11_000)); // two reconnect attempts
  ctx.broker = await startMosquitto(devices.dir, devices.fleet.outDir, join(devices.dir, 'run', 'mosquitto.pid'));
  const back = await agent.waitForEvent('mqtt_connected', 30_000, { count: 2 });
  assert.is(back.reconnect, true);
  assert.ok(Number(back.outageSeconds) >= 10, String(back.outageSeconds));
  assert.is(agent.events('mqtt_connection_lost').length, 1, 'one line for the outage');
  assert.is(
    agent
      .logs()
      .split('\n')
      .filter((l) => l.includes('broker connection problem')).length,
    0,
    'no warning per retry',
  );

  // A manual renewal: the service connects with the new certificate now, not at its next check (15 min).
  const renewed = await fleetcertAgent(['renew', '--force', '--json', ...devices.agentArgs('pi')]);
  assert.is(renewed.code, 0, renewed.stderr);
  const next = JSON.parse(renewed.stdout) as { serialNumber: string; agentSignalled: number | null };
  assert.is(next.agentSignalled, online.body.agent?.pid);
  assert.is.not(next.serialNumber, first.serial);
  await agent.waitForEvent('reload_requested', 10_000);
  await agent.waitForEvent('mqtt_connected', 15_000, { match: { serial: next.serialNumber } });
});

it('revoked while running: status says so and exits 6', async () => {
  const devices = ctx.devices!;
  const agent = ctx.agent!;
  const deviceId = String(agent.events('mqtt_connected').at(-1)!.clientId);
  const revoked = await fleetcert([
    ...['device', 'revoke', deviceId, '--data-dir', devices.fleet.server.dataDir],
    ...['--passphrase-file', devices.fleet.server.passphraseFile],
  ]);
  assert.is(revoked.code, 0, revoked.stderr);
  await agent.waitForEvent('mqtt_refused', 15_000);
  const after = await status('pi');
  // Today's main printed "Enrolled ... days left" and exit 0 here.
  assert.is(after.code, 6, JSON.stringify(after.body));
  assert.is(after.body.health, 'revoked');
  assert.is(after.body.agent?.connection.state, 'revoked');
  assert.is(after.body.agent?.lastError?.code, 'device_revoked');
  const text = await fleetcertAgent(['status', ...devices.agentArgs('pi')]);
  assert.match(text.stdout, /REVOKED/);

  assert.is(await agent.stop(), 0);
  ctx.agent = undefined;
  const stopped = await status('pi');
  assert.equal([stopped.code, stopped.body.agent?.running, stopped.body.health], [0, false, 'ok'], 'a stopped agent says nothing');
});

it.run();
