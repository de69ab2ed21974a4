/**
 * The broker moves; the board follows (issue 14 item 1), in network namespaces: a server
 * (Mosquitto and `fleetcert serve --mdns`) and a board on one segment, the board with nothing but
 * a bootstrap file (no URL, no --broker). Once the board is connected, the server host gets a new
 * address (Mosquitto restarted, as after a reboot with a new lease). The running agent reconnects
 * within RECONNECT_BOUND_MS without a restart and with nothing deleted: broker.json keeps the
 * broker's name and every connection resolves it again over mDNS.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent } from '../helpers/agent-process.js';
import { boardRoot } from '../helpers/boards.js';
import { AGENT_MAIN, fleetcert } from '../helpers/cli.js';
import { startServer } from '../helpers/fleet-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { withNetLab } from '../helpers/netns.js';
import { withTempDir } from '../helpers/temp-dir.js';

const TRIPWIRE = fileURLToPath(new URL('../helpers/sync-child-tripwire.js', import.meta.url));
const HOST = 'fleet-gw.local';
/**
 * From the broker's return at its new address to the board's next `mqtt_connected`: at most one
 * reconnect period (5 s) plus one mDNS lookup (3 s) plus serve's interface poll (2 s), and room
 * for a loaded CI machine.
 */
const RECONNECT_BOUND_MS = 20_000;

test('the server host gets a new address: the running board reconnects to it by name, no restart, nothing deleted', async () => {
  await withTempDir(async (dir) => {
    await chmod(dir, 0o755);
    const runDir = join(dir, 'run');
    await mkdir(runDir);
    await chown(runDir, Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim()), 0);
    const dataDir = join(dir, 'data');
    const passphraseFile = join(dir, 'ca-passphrase');
    const data = { dataDir, passphraseFile };
    const init = await fleetcert(['init', '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--san', HOST, '--json']);
    assert.is(init.code, 0, init.stderr);
    const outDir = join(dir, 'broker');
    const pidFile = join(runDir, 'mosquitto.pid');
    const config = await fleetcert([
      ...['broker-config', '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--out', outDir],
      ...['--host', HOST, '--reload-pid-file', pidFile],
    ]);
    assert.is(config.code, 0, config.stderr);
    const boot = join(dir, 'fleetcert.json');
    assert.is((await fleetcert(['token', 'create', '--data-dir', dataDir, '--name', 'lan', '--out', boot])).code, 0);
    const state = join(dir, 'agent');

    await withNetLab(['lan'], async (lab) => {
      const srv = await lab.host('srv', [{ segment: 'lan', address: '10.77.0.1/24' }]);
      const board = await lab.host('board', [{ segment: 'lan', address: '10.77.0.11/24' }]);
      let broker: Broker | undefined = await startMosquitto(dir, outDir, pidFile, '', lab.prefix(srv));
      const server = await startServer(dir, ['--listen', '0.0.0.0:8443', '--mdns'], data, lab.prefix(srv));
      const agent = startAgent(['run', '--state-dir', state, '--bootstrap', boot, '--identity-root', boardRoot('rpi4-bookworm-arm64')], {
        program: [...lab.prefix(board), process.execPath, '--import', TRIPWIRE, AGENT_MAIN],
      });
      try {
        await agent.waitForEvent('mqtt_connected', 60_000);
        const before = { files: await listTree(state), broker: await readFile(join(state, 'broker.json'), 'utf8') };

        await broker.stop();
        broker = undefined;
        await lab.ip(srv, ['addr', 'del', '10.77.0.1/24', 'dev', 'eth0']);
        await lab.ip(srv, ['addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
        broker = await startMosquitto(dir, outDir, pidFile, '', lab.prefix(srv));
        const back = Date.now();
        await agent.waitForEvent('mqtt_connected', RECONNECT_BOUND_MS, { count: 2 });
        const reconnectMs = Date.now() - back;
        console.log(`      reconnected ${reconnectMs} ms after the broker came back at its new address`);

        assert.is(agent.events('stopped').length, 0, 'the same agent process, never restarted');
        assert.equal(await listTree(state), before.files, 'nothing deleted, nothing re-enrolled');
        assert.is(await readFile(join(state, 'broker.json'), 'utf8'), before.broker, 'broker.json unchanged');
        const info = JSON.parse(before.broker);
        assert.equal(info.broker, { host: HOST, port: 8883, servername: HOST }, 'the name is kept, not the address');
        assert.is(info.enroll.url, `https://${HOST}:8443`);
        assert.equal(
          agent.events('sync_child_process').map((e) => e.command),
          [],
          'no synchronous child process in the service',
        );
      } finally {
        await agent.stop();
        await server.stop();
        await broker?.stop();
      }
    });
  });
});

/** Every path under `dir` (files and links), sorted: what "nothing deleted" compares. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .filter((p) => p !== 'clock' && !p.startsWith('outbox'))
    .sort();
}

test.run();
