/**
 * The broker moves; the board follows (issue 14 item 1), in network namespaces: a server
 * (Mosquitto and `fleetcert serve --mdns`) and a board on one segment, the board with nothing but
 * a bootstrap file (no URL, no --broker), its agent on Node 18. Once the board is connected the
 * server changes under it, and the running agent follows without a restart, nothing deleted:
 * - a new address (Mosquitto restarted, as after a reboot with a new lease): broker.json keeps
 *   the broker's name and every connection resolves it again over mDNS;
 * - a new name and port (the server replaced): after repeated failed attempts the agent browses
 *   again, finds the broker under its new name and saves that.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { boardRoot } from '../helpers/boards.js';
import { AGENT_MAIN, fleetcert } from '../helpers/cli.js';
import { startServer, type FleetServer } from '../helpers/fleet-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { withNetLab, type NetLab } from '../helpers/netns.js';
import { node18 } from '../helpers/node18.js';
import { withTempDir } from '../helpers/temp-dir.js';

const TRIPWIRE = fileURLToPath(new URL('../helpers/sync-child-tripwire.js', import.meta.url));
const HOST = 'fleet-gw.local';
/** The name and port of the server that replaces the first one. */
const NEW_HOST = 'fleet-gw2.local';
const NEW_PORT = 18883;
/**
 * From the broker's return at its new address to the board's next `mqtt_connected`: at most one
 * reconnect period (5 s) plus one mDNS lookup (3 s) plus serve's interface poll (2 s), and room
 * for a loaded CI machine.
 */
const RECONNECT_BOUND_MS = 20_000;
/** Three failed attempts (5 s apart, each with a 3 s lookup that finds nobody), one browse, one connect, and room. */
const REDISCOVERY_BOUND_MS = 45_000;

interface MovingFleet {
  readonly dir: string;
  readonly lab: NetLab;
  readonly srv: string;
  readonly state: string;
  readonly agent: AgentProcess;
  /** broker-config for `host`:`port`, then Mosquitto and serve --mdns with it (the previous ones stopped first). */
  readonly restartServer: (host?: string, port?: number, between?: () => Promise<void>) => Promise<void>;
  /** Stops the agent (exit 0), runs `between`, starts a new agent process on the same state. */
  readonly restartAgent: (between: () => Promise<void>) => Promise<AgentProcess>;
}

async function withMovingFleet(fn: (fleet: MovingFleet) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    await chmod(dir, 0o755);
    const runDir = join(dir, 'run');
    await mkdir(runDir);
    await chown(runDir, Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim()), 0);
    const data = { dataDir: join(dir, 'data'), passphraseFile: join(dir, 'ca-passphrase') };
    const init = await fleetcert([
      ...['init', '--data-dir', data.dataDir, '--passphrase-file', data.passphraseFile],
      ...['--san', HOST, '--san', NEW_HOST, '--json'],
    ]);
    assert.is(init.code, 0, init.stderr);
    const outDir = join(dir, 'broker');
    const pidFile = join(runDir, 'mosquitto.pid');
    const boot = join(dir, 'fleetcert.json');
    assert.is((await fleetcert(['token', 'create', '--data-dir', data.dataDir, '--name', 'lan', '--out', boot])).code, 0);
    const state = join(dir, 'agent');

    await withNetLab(['lan'], async (lab) => {
      const srv = await lab.host('srv', [{ segment: 'lan', address: '10.77.0.1/24' }]);
      const board = await lab.host('board', [{ segment: 'lan', address: '10.77.0.11/24' }]);
      let broker: Broker | undefined;
      let server: FleetServer | undefined;
      let agent: AgentProcess | undefined;
      const restartServer = async (host = HOST, port = 8883, between?: () => Promise<void>) => {
        await server?.stop();
        await broker?.stop();
        [server, broker] = [undefined, undefined];
        await between?.();
        const config = await fleetcert([
          ...['broker-config', '--data-dir', data.dataDir, '--passphrase-file', data.passphraseFile, '--out', outDir],
          ...['--host', host, '--port', String(port), '--reload-pid-file', pidFile],
        ]);
        assert.is(config.code, 0, config.stderr);
        broker = await startMosquitto(dir, outDir, pidFile, '', lab.prefix(srv));
        server = await startServer(dir, ['--listen', '0.0.0.0:8443', '--mdns'], data, lab.prefix(srv));
      };
      const runAgent = async () =>
        startAgent(['run', '--state-dir', state, '--bootstrap', boot, '--identity-root', boardRoot('rpi4-bookworm-arm64')], {
          // The agent on Node 18, the runtime of Raspberry Pi OS (Bookworm): its `lookup` contract differs from Node 20's.
          program: [...lab.prefix(board), await node18(), '--import', TRIPWIRE, AGENT_MAIN],
        });
      const restartAgent = async (between: () => Promise<void>) => {
        assert.is(await agent!.stop(), 0);
        await between();
        agent = await runAgent();
        return agent;
      };
      try {
        await restartServer();
        agent = await runAgent();
        await agent.waitForEvent('mqtt_connected', 60_000);
        await fn({ dir, lab, srv, state, agent, restartServer, restartAgent });
        assert.is(agent.events('stopped').length, 0, 'the same agent process, never restarted');
        assert.equal(
          agent.events('sync_child_process').map((e) => e.command),
          [],
          'no synchronous child process in the service',
        );
      } finally {
        await agent?.stop();
        await server?.stop();
        await broker?.stop();
      }
    });
  });
}

test('the server host gets a new address: the running board reconnects to it by name, no restart, nothing deleted', async () => {
  await withMovingFleet(async ({ lab, srv, state, agent, restartServer }) => {
    const before = { files: await listTree(state), broker: await readFile(join(state, 'broker.json'), 'utf8') };
    await restartServer(HOST, 8883, async () => {
      await lab.ip(srv, ['addr', 'del', '10.77.0.1/24', 'dev', 'eth0']);
      await lab.ip(srv, ['addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
    });
    const back = Date.now();
    await agent.waitForEvent('mqtt_connected', RECONNECT_BOUND_MS, { count: 2 });
    console.log(`      reconnected ${Date.now() - back} ms after the broker came back at its new address`);
    assert.equal(await listTree(state), before.files, 'nothing deleted, nothing re-enrolled');
    assert.is(await readFile(join(state, 'broker.json'), 'utf8'), before.broker, 'broker.json unchanged');
    const info = JSON.parse(before.broker);
    assert.equal(info.broker, { host: HOST, port: 8883, servername: HOST }, 'the name is kept, not the address');
    assert.is(info.enroll.url, `https://${HOST}:8443`);
  });
});

test('the server is replaced under another name and port: after repeated failures the board finds it again and keeps it', async () => {
  await withMovingFleet(async ({ state, agent, restartServer }) => {
    const files = await listTree(state);
    await restartServer(NEW_HOST, NEW_PORT);
    const back = Date.now();
    const found = await agent.waitForEvent('broker_rediscovered', REDISCOVERY_BOUND_MS, { match: { changed: true } });
    assert.is(found.broker, `${NEW_HOST}:${NEW_PORT}`);
    assert.is(found.previous, `${HOST}:8883`);
    await agent.waitForEvent('mqtt_connected', 15_000, { count: 2 });
    console.log(`      reconnected ${Date.now() - back} ms after the replacement came up`);
    const info = JSON.parse(await readFile(join(state, 'broker.json'), 'utf8'));
    assert.equal(info.broker, { host: NEW_HOST, port: NEW_PORT, servername: NEW_HOST });
    assert.is(info.enroll.url, `https://${NEW_HOST}:8443`);
    assert.equal(await listTree(state), files, 'nothing deleted, nothing re-enrolled');
  });
});

test('a broker.json from an older agent, with the address pinned: after the server moved, a restarted agent connects by name', async () => {
  await withMovingFleet(async ({ lab, srv, state, restartServer, restartAgent }) => {
    const path = join(state, 'broker.json');
    const current = JSON.parse(await readFile(path, 'utf8'));
    // What agents wrote before names were kept: the address mDNS returned, no "source".
    const pinned = {
      version: 1,
      deviceId: current.deviceId,
      broker: { host: '10.77.0.1', port: 8883, servername: HOST },
      enroll: { url: 'https://10.77.0.1:8443', servername: HOST },
      files: current.files,
    };
    const agent = await restartAgent(async () => {
      await writeFile(path, JSON.stringify(pinned, null, 2));
      await restartServer(HOST, 8883, async () => {
        await lab.ip(srv, ['addr', 'del', '10.77.0.1/24', 'dev', 'eth0']);
        await lab.ip(srv, ['addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
      });
    });
    await agent.waitForEvent('mqtt_connected', RECONNECT_BOUND_MS);
    const migrated = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(migrated.broker, { host: HOST, port: 8883, servername: HOST }, 'rewritten with the name');
    assert.is(migrated.enroll.url, `https://${HOST}:8443`);
    assert.is(migrated.source, 'mdns');
  });
});

/**
 * Every path under `dir` (files and links), sorted: what "nothing deleted" compares. The clock
 * file (and its temporary file while it is replaced) and the outbox change on their own.
 */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .filter((p) => p !== 'clock' && !p.startsWith('outbox') && !/(^|\/)\.[^/]*\.tmp$/.test(p))
    .sort();
}

test.run();
