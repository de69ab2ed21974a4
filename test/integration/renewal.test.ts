/**
 * Renewal against the real server and broker, with short lifetimes instead of sleeps of days:
 * the server issues 12-second certificates (backdated 1 s) and the agent checks every second.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { enqueueMessage } from '#agent/outbox/outbox.js';
import { deviceTopic } from '#shared/protocol/topics.js';
import { freePort } from '../helpers/ports.js';
import { boardRoot } from '../helpers/boards.js';
import { run } from '../helpers/run.js';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { startFleetWithBroker, type FleetOptions, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { auditRows, registrySnapshot, startServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { boardArgs, createBootstrapToken } from '../helpers/device-fleet.js';

const BOARD = boardRoot('rpi4-bookworm-arm64');
const DEVICE = 'rpi4-100000002a5c3b71';

async function fleetAndAgent(
  dir: string,
  lifetime: string,
  options: FleetOptions = {},
): Promise<{ fleet: FleetWithBroker; agent: AgentProcess; state: string }> {
  const fleet = await startFleetWithBroker(dir, ['--device-lifetime', lifetime, '--backdate', '1s'], options);
  const boot = join(dir, 'fleetcert.json');
  await createBootstrapToken(fleet, boot, { name: 'renewal' });
  const state = join(dir, 'state');
  const agent = startAgent([
    'run',
    ...boardArgs({ stateDir: state, bootstrap: boot, brokerPort: fleet.brokerPort, identityRoot: BOARD }),
    '--renew-check',
    '* * * * * *',
    '--renew-retry-seconds',
    '1',
  ]);
  await agent.waitForEvent('mqtt_connected');
  return { fleet, agent, state };
}

const certificates = (dataDir: string) =>
  (registrySnapshot(dataDir).certificates as { serial: string; device_id: string; key_sha256: string; status: string; issued_at: number }[])
    .filter((c) => c.device_id === DEVICE)
    .sort((a, b) => a.issued_at - b.issued_at);

/** Stops everything even when the agent will not stop (then fails, instead of hanging). */
async function stopAll(agent: AgentProcess, rest: { stop(): Promise<unknown> }): Promise<void> {
  const stopped = await agent.stop().then(
    (code) => code,
    (err: Error) => err,
  );
  await rest.stop();
  if (stopped instanceof Error) throw stopped;
  assert.is(stopped, 0, 'the agent exits 0 on SIGTERM');
}

async function reportedSerial(dataDir: string): Promise<string | undefined> {
  const res = await fleetcert(['device', 'show', DEVICE, '--json', '--data-dir', dataDir]);
  return JSON.parse(res.stdout).device.reported?.serial;
}

test('three automatic renewals: three new keys and serials, the connection follows each one', async () => {
  await withTempDir(async (dir) => {
    const { fleet, agent } = await fleetAndAgent(dir, '12s');
    try {
      await agent.waitForEvent('certificate_renewed', 40_000, { count: 3 });
      const renewals = agent.events('certificate_renewed').length;
      assert.ok(renewals >= 3, `${renewals} renewals:\n${agent.logs()}`);
      const certs = certificates(fleet.server.dataDir);
      assert.ok(certs.length >= 4, `${certs.length} certificates`);
      assert.is(new Set(certs.map((c) => c.key_sha256)).size, certs.length, 'a new key every time');
      assert.is(new Set(certs.map((c) => c.serial)).size, certs.length);
      assert.is(certs.filter((c) => c.status === 'active').length, 1);
      const actions = auditRows(fleet.server.dataDir)
        .filter((a) => a.device_id === DEVICE)
        .map((a) => a.action);
      assert.ok(actions.filter((a) => a === 'renewed').length >= 3, actions.join(','));
      // The MQTT connection moved to the new certificate: the status it publishes carries it.
      const latest = certs.filter((c) => c.status === 'active')[0]!.serial;
      let seen: string | undefined;
      for (let i = 0; i < 50 && seen !== latest; i += 1) {
        seen = await reportedSerial(fleet.server.dataDir);
        if (seen !== latest) await new Promise((r) => setTimeout(r, 100));
      }
      assert.is(seen, latest, 'the status the agent publishes carries the newest serial');
      assert.ok(agent.events('mqtt_connected').length >= 4, 'reconnected with each certificate');
    } finally {
      await stopAll(agent, fleet);
    }
  });
});

test('a QoS 1 publisher on the device and a subscriber elsewhere lose no message across three renewals', async () => {
  await withTempDir(async (dir) => {
    const observerPort = await freePort();
    const { fleet, agent, state } = await fleetAndAgent(dir, '12s', { observerPort });
    // The subscriber elsewhere: mosquitto_sub on the test's observer listener, QoS 1.
    const topic = deviceTopic(DEVICE, 'telemetry');
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(observerPort), '-t', topic, '-q', '1', '-i', 'observer'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let received = '';
    sub.stdout.on('data', (c: Buffer) => (received += c.toString()));
    let publishing = true;
    let sent = 0;
    try {
      // Subscribed once a probe published on the observer listener comes through.
      for (let i = 0; i < 50 && !received.includes('probe'); i += 1) {
        await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(observerPort), '-t', topic, '-q', '1', '-m', 'probe']);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(received, 'probe', 'the subscriber is subscribed');
      // The publisher on the device: a message every 25 ms into the agent's outbox, for as long as the renewals take.
      const outbox = join(state, 'outbox');
      const publisher = (async () => {
        // oxlint-disable-next-line eslint/no-unmodified-loop-condition -- the test body clears it when the renewals are done
        while (publishing) {
          sent += 1;
          await enqueueMessage(outbox, { topic: 'telemetry', payload: `seq-${sent}` });
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      const renewedBefore = agent.events('certificate_renewed').length;
      await agent.waitForEvent('certificate_renewed', 45_000, { count: renewedBefore + 3 });
      publishing = false;
      await publisher;
      // And one through the CLI a script would use, waiting for the broker's acknowledgement.
      const cli = await fleetcertAgent(['publish', 'telemetry', 'seq-cli', '--wait', '15', '--state-dir', state]);
      assert.is(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /Delivered/);

      const seen = () => new Set(received.split('\n').filter((l) => /^seq-/.test(l)));
      for (let i = 0; i < 100 && seen().size < sent + 1; i += 1) await new Promise((r) => setTimeout(r, 100));
      const got = seen();
      const missing = Array.from({ length: sent }, (_, i) => `seq-${i + 1}`).filter((m) => !got.has(m));
      assert.equal(missing, [], `${missing.length} of ${sent} messages lost`);
      assert.ok(got.has('seq-cli'));
      assert.equal(
        (await readdir(outbox)).filter((n) => n.endsWith('.json')),
        [],
        'the outbox is empty',
      );
      assert.ok(sent > 200, `${sent} messages published during the renewals`);
      // The connection really moved while messages flowed: one (re)connect per certificate.
      assert.ok(agent.events('mqtt_connected').length >= 4);
    } finally {
      publishing = false;
      sub.kill();
      await stopAll(agent, fleet);
    }
  });
});

test('renew command: not due is a no-op; --force renews and the running agent follows; renew-now over MQTT renews at once', async () => {
  await withTempDir(async (dir) => {
    const { fleet, agent, state } = await fleetAndAgent(dir, '30d');
    try {
      const notDue = await fleetcertAgent(['renew', '--json', '--state-dir', state, '--identity-root', BOARD]);
      assert.is(notDue.code, 0, notDue.stderr);
      assert.is(JSON.parse(notDue.stdout).renewed, false);

      const forced = await fleetcertAgent(['renew', '--force', '--json', '--state-dir', state, '--identity-root', BOARD]);
      assert.is(forced.code, 0, forced.stderr);
      const serial = JSON.parse(forced.stdout).serialNumber;
      let reported: string | undefined;
      for (let i = 0; i < 60 && reported !== serial; i += 1) {
        await new Promise((r) => setTimeout(r, 100));
        reported = await reportedSerial(fleet.server.dataDir);
      }
      assert.is(reported, serial, 'the running agent reconnected with the certificate the command installed');

      const before = certificates(fleet.server.dataDir).length;
      assert.is((await fleetcert(['renew-now', DEVICE, '--reason', 'CA rotation', '--data-dir', fleet.server.dataDir])).code, 0);
      await agent.waitForEvent('renewal_requested', 15_000, { match: { reason: 'CA rotation' } });
      for (let i = 0; i < 50 && certificates(fleet.server.dataDir).length === before; i += 1) await new Promise((r) => setTimeout(r, 100));
      assert.is(certificates(fleet.server.dataDir).length, before + 1);
    } finally {
      await stopAll(agent, fleet);
    }
  });
});

test("renewal info: an operator's renew-now reaches an agent without MQTT, at start and through the renew command", async () => {
  await withTempDir(async (dir) => {
    const { fleet, agent, state } = await fleetAndAgent(dir, '30d');
    let restarted: AgentProcess | undefined;
    try {
      await agent.waitForEvent('renewal_planned', 15_000, { match: { window: 'default' } });
      assert.is(await agent.stop(), 0);
      const pulled = await fleetcert(['renew-now', DEVICE, '--no-push', '--reason', 'audit finding', '--data-dir', fleet.server.dataDir]);
      assert.is(pulled.code, 0, pulled.stderr);
      const before = certificates(fleet.server.dataDir).length;
      restarted = startAgent([
        'run',
        '--state-dir',
        state,
        '--broker',
        `127.0.0.1:${fleet.brokerPort}`,
        '--broker-servername',
        'localhost',
        '--identity-root',
        BOARD,
      ]);
      await restarted.waitForEvent('renewal_planned', 15_000, { match: { window: 'operator' } });
      await restarted.waitForEvent('certificate_renewed');
      assert.is(certificates(fleet.server.dataDir).length, before + 1);
      assert.is(await restarted.stop(), 0);

      const notDue = await fleetcertAgent(['renew', '--json', '--state-dir', state, '--identity-root', BOARD]);
      assert.is(JSON.parse(notDue.stdout).renewed, false, 'the new certificate has the default window again');
      assert.is((await fleetcert(['renew-now', DEVICE, '--no-push', '--data-dir', fleet.server.dataDir])).code, 0);
      const due = await fleetcertAgent(['renew', '--json', '--state-dir', state, '--identity-root', BOARD]);
      assert.is(due.code, 0, due.stderr);
      assert.equal([JSON.parse(due.stdout).renewed, JSON.parse(due.stdout).via], [true, 'renewed']);
    } finally {
      await agent.stop();
      if (restarted) await restarted.stop();
      await fleet.stop();
    }
  });
});

test('renewal while the server is down backs off, and succeeds once it is back; a revoked device cannot renew', async () => {
  await withTempDir(async (dir) => {
    const { fleet, agent } = await fleetAndAgent(dir, '12s');
    try {
      const port = fleet.server.port;
      await fleet.server.stop();
      await agent.waitForEvent('renewal_failed', 20_000);
      const back = await startServer(dir, ['--listen', `127.0.0.1:${port}`, '--device-lifetime', '12s', '--backdate', '1s'], {
        dataDir: fleet.server.dataDir,
        passphraseFile: fleet.server.passphraseFile,
      });
      try {
        await agent.waitForEvent('certificate_renewed', 30_000);
        assert.ok(agent.events('renewal_failed').length >= 1, 'backoff observed');

        const revoke = await fleetcert([
          'device',
          'revoke',
          DEVICE,
          '--data-dir',
          fleet.server.dataDir,
          '--passphrase-file',
          fleet.server.passphraseFile,
        ]);
        assert.is(revoke.code, 0, revoke.stderr);
        await agent.waitForEvent('renewal_refused', 30_000, { match: { code: 'device_revoked' } });
      } finally {
        await back.stop();
      }
    } finally {
      await stopAll(agent, { stop: () => fleet.broker.stop() });
    }
  });
});

test('expired while off: renews inside the grace window; past it, enrolls again with the token, or without one reports and waits', async () => {
  await withTempDir(async (dir) => {
    const fleet = await startFleetWithBroker(dir, ['--device-lifetime', '3s', '--backdate', '1s', '--renewal-grace', '5s']);
    const boot = join(dir, 'fleetcert.json');
    await createBootstrapToken(fleet, boot, { name: 'expiry', options: ['--reenroll', 'allow'] });
    const state = join(dir, 'state');
    const common = boardArgs({ stateDir: state, bootstrap: boot, brokerPort: fleet.brokerPort, identityRoot: BOARD });
    const tokenUses = () =>
      (registrySnapshot(fleet.server.dataDir).tokens as { name: string; uses: number }[]).find((t) => t.name === 'expiry')!.uses;
    /** Waits until the live certificate is `graceMs` past its expiry (plus a margin). */
    const waitPastExpiry = async (graceMs: number) => {
      const status = JSON.parse((await fleetcertAgent(['status', '--json', '--state-dir', state, '--identity-root', BOARD])).stdout);
      const notAfter = Date.parse(status.notAfter);
      await new Promise((r) => setTimeout(r, Math.max(0, notAfter + graceMs - Date.now()) + 700));
    };
    let agent: AgentProcess | undefined;
    try {
      const enrolled = await fleetcertAgent(['enroll', ...common]);
      assert.is(enrolled.code, 0, enrolled.stderr);
      assert.is(tokenUses(), 1);

      // 1. Off past expiry, back inside the grace window: renews over mTLS, no token use.
      await waitPastExpiry(0);
      agent = startAgent(['run', ...common]);
      await agent.waitForEvent('certificate_renewed', 15_000);
      await agent.waitForEvent('mqtt_connected', 15_000);
      assert.is(tokenUses(), 1, 'the grace window needs no token');
      assert.is(await agent.stop(), 0);

      // 2. Off past the grace window: enrolls again with the token, from its state copy (it left the boot file).
      assert.not.match(await readFile(boot, 'utf8'), /fct_/);
      await waitPastExpiry(5000);
      agent = startAgent(['run', ...common]);
      const fromState = { refusal: 'cert_expired', location: 'state_dir', bootstrap: join(state, 'bootstrap.json') };
      await agent.waitForEvent('token_fallback', 15_000, { match: fromState });
      await agent.waitForEvent('certificate_installed', 15_000);
      await agent.waitForEvent('mqtt_connected', 15_000);
      assert.is(tokenUses(), 2);
      assert.ok(auditRows(fleet.server.dataDir).some((a) => a.device_id === DEVICE && a.action === 'reissued'));
      assert.is(await agent.stop(), 0);

      // 3. Past the grace window with no token left anywhere: says what to do, and waits 15 min, not a hot loop.
      await rm(boot);
      await rm(join(state, 'bootstrap.json'));
      await waitPastExpiry(5000);
      const refusalsBefore = auditRows(fleet.server.dataDir).filter((a) => a.code === 'cert_expired').length;
      agent = startAgent(['run', ...common]);
      await agent.waitForEvent('token_fallback_unavailable', 15_000, { match: { refusal: 'cert_expired' } });
      const refused = await agent.waitForEvent('renewal_refused', 5_000);
      const wait = Number(refused.delaySeconds);
      assert.ok(wait >= 720 && wait <= 900, `waits ${wait} s`);
      assert.match(agent.logs(), /copy a bootstrap file \(fleetcert.json\) onto the device/);
      await new Promise((r) => setTimeout(r, 3000));
      assert.is(
        auditRows(fleet.server.dataDir).filter((a) => a.code === 'cert_expired').length,
        refusalsBefore + 1,
        'one attempt, then quiet',
      );
      assert.is(tokenUses(), 2);
    } finally {
      if (agent) await stopAll(agent, fleet);
      else await fleet.stop();
    }
  });
});

test.run();
