/**
 * mDNS on real segments (issue 14 item 4), in network namespaces (test/helpers/netns.ts): a
 * server with two interfaces answers a board on each with the address of that board's own
 * segment; --mdns-interface limits it; a server started before its interface has an address
 * announces nothing unusable (no unscoped fe80::) and then follows the address it gets, and the
 * next address after that. Boards ask with the real `fleetcert-agent discover`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_MAIN, fleetcert } from '../helpers/cli.js';
import { initDataDir, startServer, waitForEvent, type FleetServer } from '../helpers/fleet-server.js';
import { withNetLab, type NetLab } from '../helpers/netns.js';

const ctx: { dir?: string; data?: { dataDir: string; passphraseFile: string } } = {};
const it = suite('mdns-segments', ctx);

const HOST = 'fleet-gw.local';

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-mdns-'));
  ctx.data = await initDataDir(ctx.dir);
  const config = await fleetcert([
    'broker-config',
    '--data-dir',
    ctx.data.dataDir,
    '--passphrase-file',
    ctx.data.passphraseFile,
    '--out',
    join(ctx.dir, 'broker'),
    '--host',
    HOST,
  ]);
  assert.is(config.code, 0, config.stderr);
});
it.after(async () => {
  await rm(ctx.dir!, { recursive: true, force: true });
});

async function serveIn(lab: NetLab, ns: string, args: readonly string[] = []): Promise<FleetServer> {
  return startServer(ctx.dir!, ['--listen', '0.0.0.0:8443', '--mdns', ...args], ctx.data, lab.prefix(ns));
}

/** `fleetcert-agent discover --json` on a board: what it found, or undefined (exit 5: nothing answered). */
async function discoverFrom(lab: NetLab, ns: string, timeoutSeconds = 4): Promise<{ host: string; address: string } | undefined> {
  const res = await lab.exec(ns, [process.execPath, AGENT_MAIN, 'discover', '--json', '--timeout', String(timeoutSeconds)], 30_000);
  if (res.code === 5) return undefined;
  assert.is(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as { host: string; address: string };
}

it('a server on two segments answers the board on each with that segment`s address; --mdns-interface limits it', async () => {
  await withNetLab(['a', 'b'], async (lab) => {
    const srv = await lab.host('srv', [
      { segment: 'a', address: '10.78.1.1/24' },
      { segment: 'b', address: '10.78.2.1/24' },
    ]);
    const boardA = await lab.host('board-a', [{ segment: 'a', address: '10.78.1.11/24' }]);
    const boardB = await lab.host('board-b', [{ segment: 'b', address: '10.78.2.11/24' }]);
    const server = await serveIn(lab, srv);
    try {
      await waitForEvent(server, 'mdns_interface_up', { count: 2 });
      const [a, b] = await Promise.all([discoverFrom(lab, boardA), discoverFrom(lab, boardB)]);
      assert.equal(a && { host: a.host, address: a.address }, { host: HOST, address: '10.78.1.1' }, server.logs());
      assert.equal(b && { host: b.host, address: b.address }, { host: HOST, address: '10.78.2.1' }, 'the second segment is answered too');
    } finally {
      await server.stop();
    }
    const limited = await serveIn(lab, srv, ['--mdns-interface', 'eth0']);
    try {
      await waitForEvent(limited, 'mdns_interface_up');
      const [a, b] = await Promise.all([discoverFrom(lab, boardA), discoverFrom(lab, boardB, 3)]);
      assert.is(a?.address, '10.78.1.1');
      assert.is(b, undefined, 'not announced on eth1');
    } finally {
      await limited.stop();
    }
  });
});

it('a server up before its address: nothing unusable is announced, then the address it gets, then the next one', async () => {
  await withNetLab(['lan'], async (lab) => {
    // The interface is up with only its automatic fe80:: address, as before DHCP.
    const srv = await lab.host('srv', [{ segment: 'lan' }]);
    const board = await lab.host('board', [{ segment: 'lan', address: '10.79.0.11/24' }]);
    const server = await serveIn(lab, srv);
    try {
      await waitForEvent(server, 'mdns_advertising');
      assert.is(await discoverFrom(lab, board, 3), undefined, 'no unscoped link-local address handed out');
      await lab.ip(srv, ['addr', 'add', '10.79.0.1/24', 'dev', 'eth0']);
      const up = await waitForEvent(server, 'mdns_interface_up', { timeoutMs: 10_000 });
      assert.equal(up.addresses, ['10.79.0.1'], 'IPv4 only: fe80:: is never announced');
      assert.is((await discoverFrom(lab, board))?.address, '10.79.0.1');
      // The lease changes: the old address goes, a new one comes.
      await lab.ip(srv, ['addr', 'del', '10.79.0.1/24', 'dev', 'eth0']);
      await lab.ip(srv, ['addr', 'add', '10.79.0.2/24', 'dev', 'eth0']);
      const deadline = Date.now() + 10_000;
      while (!serverSays(server, '10.79.0.2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(serverSays(server, '10.79.0.2'), server.logs());
      assert.is((await discoverFrom(lab, board))?.address, '10.79.0.2');
    } finally {
      await server.stop();
    }
  });
});

/** The last announcement of the server names only `address`. */
function serverSays(server: FleetServer, address: string): boolean {
  const announced = server
    .logs()
    .split('\n')
    .filter((l) => l.includes('"mdns_interface_up"') || l.includes('"mdns_addresses_changed"'))
    .map((l) => JSON.parse(l) as { addresses: string[] });
  return announced.at(-1)?.addresses.join() === address;
}

it.run();
