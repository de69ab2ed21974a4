/**
 * A kill -9 at EVERY file-system step of `fleetcert-agent enroll` and of `fleetcert-agent renew`
 * (issue 11 item 3): each step in turn, not a sample. A clean run first numbers the steps (every
 * mutating call under the state directory: open for writing, write, fchmod, fsync, rename,
 * symlink, link, unlink, mkdir, rmdir; see test/helpers/kill-at-step.ts); then, for each step N,
 * a fresh device runs the same command and is killed on entry to step N (the log proves the
 * killed call is step N of the clean run), and `fleetcert-agent run` is started on what is left.
 * It must end connected to the real Mosquitto over mutual TLS with the certificate the server
 * holds as current, under the same device id, with no operator action (no reset), and the fleet
 * token spent once per device.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent } from '../helpers/agent-process.js';
import { AGENT_MAIN, fleetcertAgent } from '../helpers/cli.js';
import { auditRows, registrySnapshot } from '../helpers/fleet-server.js';
import { buildKillAtStep, killAtStepEnv, readSteps, type Step } from '../helpers/kill-at-step.js';
import { run } from '../helpers/run.js';
import { startDeviceFleet, type DeviceFleet } from '../helpers/device-fleet.js';

const ctx: { devices?: DeviceFleet; library?: string } = {};
const it = suite('agent-crash-sweep', ctx);
const TOKEN = 'crash-sweep';
/** Steps run side by side: each is a few short processes, mostly waiting on the network. */
const PARALLEL = 3;

it.before(async () => {
  // Re-enrollment is denied: a device that lost track of its key would be refused, not hidden.
  ctx.devices = await startDeviceFleet({
    prefix: 'fleetcert-crash-',
    token: { name: TOKEN, uses: 1000 },
    stateDir: (dir, name) => join(dir, 'devices', name),
  });
  const { dir } = ctx.devices;
  ctx.library = await buildKillAtStep(dir);
  // Made now: the first device's recursive mkdir would otherwise count one more step than the others'.
  await mkdir(join(dir, 'devices'));
  await mkdir(join(dir, 'logs'));
});
it.after(async () => {
  await ctx.devices?.stop();
});

const stateOf = (name: string) => ctx.devices!.stateDir(name);
const agentArgs = (name: string) => ctx.devices!.agentArgs(name);

/** Runs `command` for device `name` under the library; killed on entry to step `at` (0: never). */
async function underKill(
  name: string,
  command: readonly string[],
  at: number,
): Promise<{ steps: Step[]; code: number | null; stderr: string }> {
  const log = join(ctx.devices!.dir, 'logs', `${name}.steps`);
  const env = { ...process.env, ...killAtStepEnv(ctx.library!, stateOf(name), log, at) };
  for (const k of Object.keys(env)) if (k.startsWith('FLEETCERT_')) delete env[k];
  const res = await run(process.execPath, [AGENT_MAIN, ...command, ...agentArgs(name)], { env, timeoutMs: 60_000 });
  return { steps: await readSteps(log, stateOf(name)), code: res.code, stderr: res.stderr };
}

interface DeviceRow {
  id: string;
  status: string;
}
interface CertificateRow {
  serial: string;
  device_id: string;
  status: string;
}

function deviceFacts(name: string): { devices: DeviceRow[]; active: string | undefined } {
  const snapshot = registrySnapshot(ctx.devices!.fleet.server.dataDir);
  const devices = (snapshot.devices as DeviceRow[]).filter((d) => d.id.startsWith(`${name}-`));
  const active = (snapshot.certificates as CertificateRow[]).find(
    (c) => devices.some((d) => d.id === c.device_id) && c.status === 'active',
  )?.serial;
  return { devices, active };
}

/**
 * Starts the service on what the crash left and waits until its latest mTLS connection presents
 * the certificate the server holds as current; then stops it. Returns the device id it used.
 */
async function restartUntilCurrent(name: string, label: string): Promise<string> {
  const agent = startAgent(['run', ...agentArgs(name)]);
  try {
    const started = Date.now();
    for (;;) {
      const connected = agent.events('mqtt_connected').at(-1);
      const { active } = deviceFacts(name);
      if (connected && active && connected.serial === active) return String(connected.clientId);
      if (Date.now() - started > 30_000) {
        throw new Error(
          `${label}: not connected with the current certificate ${active} after 30 s (last connected with ${String(connected?.serial)}):\n${agent.logs()}`,
        );
      }
      if ((await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 100, 'running'))])) !== 'running') {
        throw new Error(`${label}: the agent exited:\n${agent.logs()}`);
      }
    }
  } finally {
    assert.is(await agent.stop(), 0, `${label}: the service stops cleanly`);
  }
}

/** Runs `fn` for 1..count, at most PARALLEL at a time; every failure is reported, not only the first. */
async function eachStep(count: number, fn: (n: number) => Promise<void>): Promise<void> {
  const failures: string[] = [];
  let next = 1;
  const worker = async () => {
    for (let n = next++; n <= count; n = next++) await fn(n).catch((err: Error) => failures.push(`step ${n}: ${err.message}`));
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  assert.is(failures.length, 0, `${failures.length} of ${count} steps failed:\n${failures.join('\n\n')}`);
}

/**
 * Removing a directory unlinks its files in readdir order, which the file system chooses: the
 * k-th unlink inside a pruned generation is the same step (k files gone) whichever file it is.
 */
const sameStep = (what: string) => what.replace(/^unlink (<state>\/generations\/\d+)\/[^/]+$/, 'unlink $1/<a file>');

/** The crashed run died at step `n`, and that is the clean run's step `n`. */
function assertKilledAt(n: number, reference: readonly Step[], crashed: { steps: Step[]; code: number | null; stderr: string }): void {
  const last = crashed.steps.at(-1);
  if (!last?.killed || last.n !== n)
    throw new Error(`not killed at step ${n} (exit ${crashed.code}; last step ${JSON.stringify(last)}):\n${crashed.stderr}`);
  const expected = reference[n - 1]!.what;
  if (sameStep(last.what) !== sameStep(expected))
    throw new Error(`step ${n} was "${last.what}" in the crashed run but "${expected}" in the clean one`);
}

/** Only the first enrollment spent a token use and nothing was ever re-enrolled or reset. */
function assertOneEnrollment(name: string, deviceId: string): void {
  const { devices } = deviceFacts(name);
  assert.equal(
    devices.map((d) => [d.id, d.status]),
    [[deviceId, 'active']],
    `${name}: one device, active, same id`,
  );
  const actions = auditRows(ctx.devices!.fleet.server.dataDir)
    .filter((r) => r.device_id === deviceId)
    .map((r) => r.action);
  assert.is(actions.filter((a) => a === 'issued').length, 1, `${name}: one enrollment (${actions.join(', ')})`);
  assert.ok(
    !actions.some((a) => a === 'reissued' || a === 'reset' || a === 'refused'),
    `${name}: no re-enrollment, reset or refusal (${actions.join(', ')})`,
  );
}

const tokenUses = () =>
  (registrySnapshot(ctx.devices!.fleet.server.dataDir).tokens as { name: string; uses: number }[]).find((t) => t.name === TOKEN)!.uses;

it('enroll: killed at every file-system step, the next start ends connected with the current certificate', async () => {
  const clean = await underKill('e0', ['enroll'], 0);
  assert.is(clean.code, 0, clean.stderr);
  const reference = clean.steps;
  const whats = reference.map((s) => s.what);
  assert.ok(
    whats.some((w) => /^rename <state>\/pending -> <state>\/generations\/000001$/.test(w)),
    whats.join('\n'),
  );
  assert.ok(
    whats.some((w) => /^rename <state>\/live\.<pid>\.tmp -> <state>\/live$/.test(w)),
    whats.join('\n'),
  );
  const started = Date.now();
  await eachStep(reference.length, async (n) => {
    const name = `e${n}`;
    assertKilledAt(n, reference, await underKill(name, ['enroll'], n));
    const deviceId = await restartUntilCurrent(name, `enroll step ${n} (${reference[n - 1]!.what})`);
    assert.is(deviceId.startsWith(`${name}-`), true);
    assertOneEnrollment(name, deviceId);
  });
  console.log(`  enroll: ${reference.length} steps, each killed and recovered, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // One use per device (the clean one and one per step): a crash never spent a second one.
  assert.is(tokenUses(), reference.length + 1);
});

it('renew: killed at every file-system step, the next start ends connected with the current certificate', async () => {
  /** An enrolled device with two generations, so that the renewal under test also prunes one. */
  const renewable = async (name: string) => {
    for (const command of [['enroll'], ['renew', '--force']]) {
      const res = await fleetcertAgent([...command, ...agentArgs(name)]);
      assert.is(res.code, 0, `${name} ${command[0]}: ${res.stderr}`);
    }
  };
  await renewable('r0');
  const clean = await underKill('r0', ['renew', '--force'], 0);
  assert.is(clean.code, 0, clean.stderr);
  const reference = clean.steps;
  const whats = reference.map((s) => s.what);
  assert.ok(
    whats.some((w) => /^rename <state>\/pending -> <state>\/generations\/000003$/.test(w)),
    whats.join('\n'),
  );
  assert.ok(
    whats.some((w) => /^rmdir <state>\/generations\/000001$/.test(w)),
    whats.join('\n'),
  );
  const started = Date.now();
  await eachStep(reference.length, async (n) => {
    const name = `r${n}`;
    await renewable(name);
    assertKilledAt(n, reference, await underKill(name, ['renew', '--force'], n));
    const deviceId = await restartUntilCurrent(name, `renew step ${n} (${reference[n - 1]!.what})`);
    assertOneEnrollment(name, deviceId);
  });
  console.log(`  renew: ${reference.length} steps, each killed and recovered, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

it.run();
