/**
 * Renewal against the real server and broker, with short lifetimes instead of sleeps of days:
 * the server issues 12-second certificates (backdated 1 s) and the agent checks every second.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { startFleetWithBroker, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { auditRows, registrySnapshot, startServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const BOARD = fileURLToPath(new URL('../../../../shared/boards/rpi4-bookworm-arm64', import.meta.url));
const DEVICE = 'rpi4-100000002a5c3b71';

async function fleetAndAgent(dir: string, lifetime: string): Promise<{ fleet: FleetWithBroker; agent: AgentProcess; state: string }> {
  const fleet = await startFleetWithBroker(dir, ['--device-lifetime', lifetime, '--backdate', '1s']);
  const boot = join(dir, 'fleetcert.json');
  assert.is((await fleetcert(['token', 'create', '--data-dir', fleet.server.dataDir, '--name', 'renewal', '--out', boot, '--enroll-url', `https://localhost:${fleet.server.port}`])).code, 0);
  const state = join(dir, 'state');
  const agent = startAgent([
    'run', '--state-dir', state, '--bootstrap', boot, '--broker', `127.0.0.1:${fleet.brokerPort}`, '--broker-servername', 'localhost',
    '--identity-root', BOARD, '--renew-check', '* * * * * *', '--renew-retry-seconds', '1',
  ]);
  await agent.waitFor(/connected to the broker over mutual TLS/);
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

/** Waits until `pattern` occurs `count` times in the agent's log. */
async function logCount(agent: AgentProcess, pattern: RegExp, count: number, timeoutMs: number): Promise<void> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((r) => setTimeout(r, 100))) {
    if ((agent.logs().match(pattern)?.length ?? 0) >= count) return;
  }
  throw new Error(`fewer than ${count} x ${pattern} within ${timeoutMs} ms:\n${agent.logs()}`);
}

async function reportedSerial(dataDir: string): Promise<string | undefined> {
  const res = await fleetcert(['device', 'show', DEVICE, '--json', '--data-dir', dataDir]);
  return JSON.parse(res.stdout).device.reported?.serial;
}

test('three automatic renewals: three new keys and serials, the connection follows each one', async () => {
  await withTempDir(async (dir) => {
    const { fleet, agent } = await fleetAndAgent(dir, '12s');
    try {
      await logCount(agent, /certificate renewed/g, 3, 40_000);
      const renewals = agent.logs().match(/certificate renewed/g)?.length ?? 0;
      assert.ok(renewals >= 3, `${renewals} renewals:\n${agent.logs()}`);
      const certs = certificates(fleet.server.dataDir);
      assert.ok(certs.length >= 4, `${certs.length} certificates`);
      assert.is(new Set(certs.map((c) => c.key_sha256)).size, certs.length, 'a new key every time');
      assert.is(new Set(certs.map((c) => c.serial)).size, certs.length);
      assert.is(certs.filter((c) => c.status === 'active').length, 1);
      const actions = auditRows(fleet.server.dataDir).filter((a) => a.device_id === DEVICE).map((a) => a.action);
      assert.ok(actions.filter((a) => a === 'renewed').length >= 3, actions.join(','));
      // The MQTT connection moved to the new certificate: the status it publishes carries it.
      const latest = certs.filter((c) => c.status === 'active')[0]!.serial;
      let seen: string | undefined;
      for (let i = 0; i < 50 && seen !== latest; i += 1) {
        seen = await reportedSerial(fleet.server.dataDir);
        if (seen !== latest) await new Promise((r) => setTimeout(r, 100));
      }
      assert.is(seen, latest, 'the status the agent publishes carries the newest serial');
      assert.ok((agent.logs().match(/connected to the broker over mutual TLS/g)?.length ?? 0) >= 4, 'reconnected with each certificate');
    } finally {
      await stopAll(agent, fleet);
    }
  });
});

test('renew command: not due is a no-op; --force renews and the running agent follows; renew-now over MQTT renews at once', async () => {
  await withTempDir(async (dir) => {
    const { fleet, agent, state } = await fleetAndAgent(dir, '30d');
    try {
      const notDue = await fleetcertAgent(['renew', '--json', '--state-dir', state]);
      assert.is(notDue.code, 0, notDue.stderr);
      assert.is(JSON.parse(notDue.stdout).renewed, false);

      const forced = await fleetcertAgent(['renew', '--force', '--json', '--state-dir', state]);
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
      await agent.waitFor(/renewal requested now.*CA rotation/);
      for (let i = 0; i < 50 && certificates(fleet.server.dataDir).length === before; i += 1) await new Promise((r) => setTimeout(r, 100));
      assert.is(certificates(fleet.server.dataDir).length, before + 1);
    } finally {
      await stopAll(agent, fleet);
    }
  });
});

test('renewal while the server is down backs off, and succeeds once it is back; a revoked device cannot renew', async () => {
  await withTempDir(async (dir) => {
    const { fleet, agent } = await fleetAndAgent(dir, '12s');
    try {
      const port = fleet.server.port;
      await fleet.server.stop();
      await agent.waitFor(/renewal failed; next attempt in/, 20_000);
      const back = await startServer(dir, ['--listen', `127.0.0.1:${port}`, '--device-lifetime', '12s', '--backdate', '1s'], {
        dataDir: fleet.server.dataDir,
        passphraseFile: fleet.server.passphraseFile,
      });
      try {
        await agent.waitFor(/certificate renewed/, 30_000);
        const failures = agent.logs().match(/renewal failed; next attempt in (\d+) s/g) ?? [];
        assert.ok(failures.length >= 1, 'backoff observed');

        const revoke = await fleetcert(['device', 'revoke', DEVICE, '--data-dir', fleet.server.dataDir, '--passphrase-file', fleet.server.passphraseFile]);
        assert.is(revoke.code, 0, revoke.stderr);
        await agent.waitFor(/renewal refused \(device_revoked\)/, 30_000);
      } finally {
        await back.stop();
      }
    } finally {
      await stopAll(agent, { stop: () => fleet.broker.stop() });
    }
  });
});

test.run();
