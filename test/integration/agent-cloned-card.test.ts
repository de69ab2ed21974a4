/**
 * A configured SD card cloned onto a second board of the same model (issue 14 item 2): the
 * clone never uses the first board's credentials. It sets them aside (kept), says so once, and
 * enrolls as itself with the fleet token the clone carried in its state directory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCertificate, readCertificates } from '#shared/pki/certificate.js';
import { boardRoot } from '../helpers/boards.js';
import { bootCard } from '../helpers/boot-card.js';
import { fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { startAgent } from '../helpers/agent-process.js';
import { boardArgs, startDeviceFleet } from '../helpers/device-fleet.js';
import { startServer, waitForEvent } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const FIRST = 'rpi4-100000002a5c3b71';
const SECOND = 'rpi4-10000000deadbeef';

const events = (stderr: string, event: string) =>
  stderr.split('\n').filter((line) => line.startsWith('{') && (JSON.parse(line) as { event?: string }).event === event);
const liveCn = async (state: string) =>
  describeCertificate(readCertificates(await readFile(join(state, 'live', 'cert.pem'), 'utf8'))[0]!).subjectCommonName;

test('a clone of an enrolled card on another Pi 4: foreign state set aside, kept; enrolls as itself with the carried token', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir);
    try {
      const boot = join(dir, 'fleetcert.json');
      const token = await fleetcert([
        ...['token', 'create', '--data-dir', server.dataDir, '--name', 'plant', '--uses', '5', '--id-pattern', 'rpi*'],
        ...['--enroll-url', `https://localhost:${server.port}`, '--out', boot],
      ]);
      assert.is(token.code, 0, token.stderr);
      // The second board: the same model, its own serial.
      const otherPi4 = join(dir, 'board-b');
      await cp(boardRoot('rpi4-bookworm-arm64'), otherPi4, { recursive: true });
      const cpuinfo = join(otherPi4, 'proc', 'cpuinfo');
      await writeFile(cpuinfo, (await readFile(cpuinfo, 'utf8')).replace('100000002a5c3b71', '10000000deadbeef'));
      await writeFile(join(otherPi4, 'sys', 'class', 'net', 'eth0', 'address'), 'dc:a6:32:0a:ff:ee\n');

      const stateA = join(dir, 'state-a');
      const cardA = bootCard(dir, 'a', boot);
      const boardA = boardArgs({ stateDir: stateA, bootstrap: cardA, brokerPort: 1, identityRoot: boardRoot('rpi4-bookworm-arm64') });
      const first = await fleetcertAgent(['enroll', ...boardA, '--timeout', '20', '--json']);
      assert.is(first.code, 0, first.stderr);
      assert.is(JSON.parse(first.stdout).deviceId, FIRST);
      assert.not.match(await readFile(cardA, 'utf8'), /fct_/, 'the token left the boot partition for the state directory');

      // The operator clones the configured card: boot partition and state directory.
      const stateB = join(dir, 'state-b');
      await cp(stateA, stateB, { recursive: true, verbatimSymlinks: true });
      const cardB = join(dir, 'card-b', 'fleetcert.json');
      await cp(cardA, cardB);
      const boardB = boardArgs({ stateDir: stateB, bootstrap: cardB, brokerPort: 1, identityRoot: otherPi4 });

      // A renewal on the clone (its timer) refuses the other board's certificate and moves nothing.
      const renew = await fleetcertAgent(['renew', '--force', ...boardB, '--json']);
      assert.equal([renew.code, JSON.parse(renew.stdout).code], [3, 'credentials_foreign'], renew.stderr);
      // So does `status` (before the service has run on the clone it showed the first board's certificate as this one's).
      const status = await fleetcertAgent(['status', ...boardB, '--json']);
      assert.equal([status.code, JSON.parse(status.stdout).code], [3, 'credentials_foreign'], status.stderr);
      assert.not.ok((await readdir(stateB)).some((name) => name.startsWith('foreign-')));

      const clone = await fleetcertAgent(['enroll', ...boardB, '--timeout', '20', '--json']);
      assert.is(clone.code, 0, clone.stderr);
      // Today's main answered "already enrolled" as the first board, and the two took each other's session.
      const enrolled = JSON.parse(clone.stdout) as { deviceId: string; enrolledNow: boolean };
      assert.equal([enrolled.deviceId, enrolled.enrolledNow], [SECOND, true]);
      assert.is(await liveCn(stateB), SECOND);
      const setAside = events(clone.stderr, 'foreign_credentials_set_aside');
      assert.is(setAside.length, 1, clone.stderr);
      const foreign = (await readdir(stateB)).filter((name) => name.startsWith('foreign-'));
      assert.is(foreign.length, 1);
      assert.match(setAside[0]!, foreign[0]!);
      assert.is(await liveCn(join(stateB, foreign[0]!)), FIRST, "the first board's credentials are kept, not deleted");
      assert.ok((await readdir(join(stateB, foreign[0]!))).includes('bootstrap.json'));

      // Once set aside, never again; the first board is still itself.
      const again = await fleetcertAgent(['enroll', ...boardB, '--json']);
      assert.is(JSON.parse(again.stdout).enrolledNow, false, again.stderr);
      assert.is(events(again.stderr, 'foreign_credentials_set_aside').length, 0);
      const original = await fleetcertAgent(['enroll', ...boardA, '--json']);
      assert.equal([JSON.parse(original.stdout).deviceId, JSON.parse(original.stdout).enrolledNow], [FIRST, false]);

      const listed = await fleetcert(['device', 'list', '--data-dir', server.dataDir, '--json']);
      assert.equal((JSON.parse(listed.stdout).devices as { id: string }[]).map((d) => d.id).sort(), [FIRST, SECOND].sort());
    } finally {
      await server.stop();
    }
  });
});

test('two boards the agent cannot tell apart share one identity: the server flags the device in device show and list', async () => {
  // The same board files for both (a board without serial or MAC, or an older agent): only the server can notice.
  const devices = await startDeviceFleet({ prefix: 'fleetcert-takeover-', token: { name: 'plant', uses: 5 } });
  const agents: ReturnType<typeof startAgent>[] = [];
  try {
    const { fleet } = devices;
    const first = await fleetcertAgent(['enroll', ...devices.agentArgs('pi'), '--json']);
    assert.is(first.code, 0, first.stderr);
    const deviceId = JSON.parse(first.stdout).deviceId as string;
    const clonedState = join(devices.dir, 'state-clone');
    await cp(devices.stateDir('pi'), clonedState, { recursive: true, verbatimSymlinks: true });
    const cloneArgs = devices.agentArgs('pi').map((arg) => (arg === devices.stateDir('pi') ? clonedState : arg));
    agents.push(startAgent(['run', ...devices.agentArgs('pi')]), startAgent(['run', ...cloneArgs]));

    // Each takes the session from the other as it reconnects (every 5 s): 5 connections within a minute.
    const flagged = await waitForEvent(fleet.server, 'session_takeover_suspected', { timeoutMs: 60_000 });
    assert.is(flagged.deviceId, deviceId);
    const shown = await fleetcert(['device', 'show', deviceId, '--data-dir', fleet.server.dataDir, '--json']);
    const takeover = JSON.parse(shown.stdout).sessionTakeover as { flags: number } | null;
    assert.ok(takeover && takeover.flags >= 1, shown.stdout);
    const text = await fleetcert(['device', 'show', deviceId, '--data-dir', fleet.server.dataDir]);
    assert.match(text.stdout, /sessions\s+sessions taken over repeatedly/);
    const listed = await fleetcert(['device', 'list', '--data-dir', fleet.server.dataDir]);
    assert.match(listed.stdout, new RegExp(`taken over repeatedly.*: ${deviceId}`));
    const json = await fleetcert(['device', 'list', '--data-dir', fleet.server.dataDir, '--json']);
    assert.ok(JSON.parse(json.stdout).devices[0].sessionTakeover);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await devices.stop();
  }
});

test.run();
