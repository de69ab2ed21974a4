/**
 * The one-file agent (dist/bundle/fleetcert-agent.mjs, scripts/bundle-agent.mjs) is what boards
 * run: prove it holds nothing of the server and no native module, fits the budget, carries the
 * stamped clock floor, and works copied ALONE into a directory without node_modules, on Node 18
 * and on this Node: --help, status, and a real enrollment and mTLS connection, after which `run`
 * tells systemd it is ready (Type=notify, through systemd-notify; a recording stand-in here).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fleetcert } from '../helpers/cli.js';
import { boardRoot } from '../helpers/boards.js';
import { startFleetWithBroker } from '../helpers/fleet-broker.js';
import { node18 } from '../helpers/node18.js';
import { run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { eventsIn } from '../helpers/agent-process.js';
import { boardArgs, createBootstrapToken } from '../helpers/device-fleet.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLE = join(DIST, 'bundle', 'fleetcert-agent.mjs');
const METAFILE = join(DIST, 'bundle', 'fleetcert-agent.meta.json');
const BOARD = boardRoot('rpi4-bookworm-arm64');

interface Metafile {
  inputs: Record<string, unknown>;
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

test('the bundle holds the agent and its dependencies, nothing of the server, no native module, within 1.5 MB', async () => {
  const meta = JSON.parse(await readFile(METAFILE, 'utf8')) as Metafile;
  const inputs = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
  assert.ok(
    inputs.some((p) => p.endsWith('dist/agent/main.js')),
    'the agent entry point is in',
  );
  assert.ok(
    inputs.some((p) => /node_modules\/mqtt\//.test(p)),
    'mqtt is bundled, not left to a node_modules',
  );
  const forbidden = inputs.filter(
    (p) => /(^|\/)dist\/server\//.test(p) || /better-sqlite3|bindings|node-gyp/.test(p) || p.endsWith('.node'),
  );
  assert.equal(forbidden, []);
  const bytes = (await stat(BUNDLE)).size;
  assert.ok(bytes <= 1_500_000, `bundle is ${bytes} bytes`);
  const text = await readFile(BUNDLE, 'utf8');
  assert.not.match(text, /better-sqlite3|\.node['"]\)/, 'no native binding is loaded at run time');
});

test('the bundle carries the build time stamped into the compiled agent (the clock floor)', async () => {
  const compiled = await readFile(join(DIST, 'agent', 'clock', 'build-time.js'), 'utf8');
  const stamped = compiled.match(/BUILD_TIME = '([^']+)'/)?.[1];
  assert.ok(stamped && stamped !== '2026-11-29T00:00:00.000Z', `the compiled agent is stamped (${stamped})`);
  assert.ok((await readFile(BUNDLE, 'utf8')).includes(`"${stamped}"`), 'the same stamp is in the bundle');
});

for (const runtime of ['node18', 'host'] as const) {
  test(`${runtime} Node: the bundle alone (no node_modules) answers --help and status, then enrolls and connects over mTLS`, async () => {
    const node = runtime === 'node18' ? await node18() : process.execPath;
    await withTempDir(async (dir) => {
      const bundle = join(dir, 'fleetcert-agent.mjs');
      await copyFile(BUNDLE, bundle);
      const version = await run(node, ['--version']);
      if (runtime === 'node18') assert.match(version.stdout, /^v18\./);

      const help = await run(node, [bundle, '--help'], { cwd: dir });
      assert.is(help.code, 0, help.stderr);
      assert.match(help.stdout, /needs-renewal/);
      const state = join(dir, 'state');
      const before = await run(node, [bundle, 'status', '--json', '--state-dir', state], { cwd: dir });
      assert.is(JSON.parse(before.stdout).code, 'not_enrolled', before.stdout + before.stderr);

      const fleet = await startFleetWithBroker(dir);
      try {
        const boot = join(dir, 'fleetcert.json');
        await createBootstrapToken(fleet, boot, { name: 'bundle' });
        const args = boardArgs({ stateDir: state, bootstrap: boot, brokerPort: fleet.brokerPort, identityRoot: BOARD });
        const notified = join(dir, 'notified');
        const fakeBin = await fakeSystemdNotify(dir, notified);
        const env = { ...withoutFleetcertEnv(), PATH: `${fakeBin}:${process.env.PATH}`, NOTIFY_SOCKET: join(dir, 'notify.sock') };
        const probe = await libraryProbe(dir);
        const agent = spawn(node, ['--require', probe.preload, bundle, 'run', ...args], {
          cwd: dir,
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...env, FLEETCERT_TEST_PROBE: probe.enrolling },
        });
        let logs = '';
        agent.stderr.on('data', (c: Buffer) => (logs += c.toString()));
        const exited = new Promise<number | null>((r) => agent.on('exit', (code) => r(code)));
        try {
          for (let i = 0; i < 200 && eventsIn(logs, 'systemd_ready').length === 0 && agent.exitCode === null; i += 1)
            await new Promise((r) => setTimeout(r, 100));
          assert.is(eventsIn(logs, 'certificate_installed').length, 1, logs);
          assert.is(eventsIn(logs, 'mqtt_connected').length, 1, logs);
          assert.is(eventsIn(logs, 'systemd_ready').length, 1, logs);
          assert.is(await readFile(notified, 'utf8'), `${env.NOTIFY_SOCKET} --ready --status=connected as rpi4-100000002a5c3b71\n`);
        } finally {
          agent.kill('SIGTERM');
          assert.is(await exited, 0, logs);
        }
        // Issue 15: an enrolled agent that starts, connects and idles never loads @peculiar/x509 (~12 MiB of
        // a board's memory); enrolling does, which shows the probe sees it.
        const restarted = spawn(node, ['--require', probe.preload, bundle, 'run', ...args], {
          cwd: dir,
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...env, FLEETCERT_TEST_PROBE: probe.idle },
        });
        let again = '';
        restarted.stderr.on('data', (c: Buffer) => (again += c.toString()));
        const restartExited = new Promise<number | null>((r) => restarted.on('exit', (code) => r(code)));
        try {
          for (let i = 0; i < 200 && eventsIn(again, 'renewal_planned').length === 0 && restarted.exitCode === null; i += 1)
            await new Promise((r) => setTimeout(r, 100));
          assert.is(eventsIn(again, 'mqtt_connected').length, 1, again);
          assert.is(eventsIn(again, 'renewal_planned').length, 1, again);
        } finally {
          restarted.kill('SIGTERM');
          assert.is(await restartExited, 0, again);
        }
        assert.is(await readFile(probe.enrolling, 'utf8'), 'loaded', 'enrolling loads @peculiar/x509 (the probe works)');
        assert.is(await readFile(probe.idle, 'utf8'), 'not loaded', 'start, connect and idle without @peculiar/x509');
        // The OS facts were read from inside the bundle: the server recorded them.
        const shown = await fleetcert(['device', 'show', 'rpi4-100000002a5c3b71', '--json', '--data-dir', fleet.server.dataDir]);
        assert.is(shown.code, 0, shown.stderr);
        assert.match(String(JSON.parse(shown.stdout).device.metadata.os ?? ''), /\S/);
        const after = await run(node, [bundle, 'status', '--json', '--state-dir', state, '--identity-root', BOARD], { cwd: dir });
        assert.is(JSON.parse(after.stdout).deviceId, 'rpi4-100000002a5c3b71', after.stdout + after.stderr);
      } finally {
        await fleet.stop();
      }
    });
  });
}

/** A systemd-notify that records its socket and arguments: the agent's side of the protocol. */
async function fakeSystemdNotify(dir: string, record: string): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> '${record}'\n`);
  await chmod(join(bin, 'systemd-notify'), 0o755);
  return bin;
}

/**
 * A preload that writes, as the process exits, whether @peculiar/x509 was ever loaded. Its first
 * import, reflect-metadata (shared/pki/x509-provider.ts), defines the global `Reflect.getMetadata`,
 * which nothing else in the agent does: a test-only probe, nothing in the product knows of it.
 */
async function libraryProbe(dir: string): Promise<{ preload: string; enrolling: string; idle: string }> {
  const preload = join(dir, 'library-probe.cjs');
  await writeFile(
    preload,
    "process.on('exit', () => require('fs').writeFileSync(process.env.FLEETCERT_TEST_PROBE, " +
      "typeof Reflect.getMetadata === 'function' ? 'loaded' : 'not loaded'));\n",
  );
  return { preload, enrolling: join(dir, 'probe-enrolling'), idle: join(dir, 'probe-idle') };
}

function withoutFleetcertEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEETCERT_')));
}

test.run();
