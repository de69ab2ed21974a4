/**
 * scripts/fleet-sim.mjs kept from rotting (issue 15 items 5 and 6): the same script that runs
 * 10,000 devices by hand, with 50 here. Everything it checks is real: enrollment over EST,
 * mutual TLS at Mosquitto, retained statuses seen by a subscriber, one device revoked by the CLI
 * and refused while the others stay; and in --renewal-storm mode the agent's renewal timing
 * (server renewal info, jitter, timer) renewing every device once against the real server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoPath } from '../helpers/repo.js';
import { run } from '../helpers/run.js';

const fleetSim = (args: readonly string[], timeoutMs: number) =>
  run(process.execPath, [repoPath('scripts', 'fleet-sim.mjs'), '--no-setup', '--json', ...args], { timeoutMs });

test('50 devices enroll, connect over mTLS and publish; one revoked is cut off and refused, 49 stay', async () => {
  const res = await fleetSim(['--devices', '50'], 60_000);
  assert.is(res.code, 0, res.stderr + res.stdout);
  const out = JSON.parse(res.stdout);
  assert.is(out.ok, true);
  assert.equal([out.enrolled, out.connected, out.retainedOnline, out.errors], [50, 50, 50, []]);
  assert.ok(out.enrollMs.p99 > 0 && out.connectMs.p99 > 0 && out.rssMiB.server > 0 && out.rssMiB.broker > 0);
  const r = out.revocation;
  assert.equal([r.sessionEnded, r.reconnectRefused, r.othersDropped, r.stillConnected], [true, true, 0, 49]);
  assert.match(r.reconnectError, /revoked/);
});

test('--renewal-storm with 40-second certificates: every device renews once, at the moment its scheduler picks, none fails', async () => {
  const res = await fleetSim(['--devices', '50', '--renewal-storm', '--lifetime', '40s'], 90_000);
  assert.is(res.code, 0, res.stderr + res.stdout);
  const out = JSON.parse(res.stdout);
  assert.equal([out.ok, out.enrolled, out.storm.renewed, out.storm.failures], [true, 50, 50, []]);
  assert.is(
    out.storm.seconds.reduce((a: number, b: number) => a + b, 0),
    50,
  );
  // 40 s certificates renew in their last 10% before the half-life: within [16 s, 20 s] of issue.
  assert.ok(out.storm.spanSeconds <= 4 + Math.ceil(out.issuedOverSeconds) + 1, `renewals spread over ${out.storm.spanSeconds} s`);
});

test.run();
