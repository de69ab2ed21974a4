/**
 * Start-up never hangs on the network (issue 14 item 7): a board whose own host name does not
 * resolve and whose DNS server never answers (a private UTS, mount and network namespace: the
 * name server's packets go down a veth pair to a MAC address nobody has) still enrolls at once, and nothing on the
 * way starts a synchronous child process, which would block every timeout of the agent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_MAIN, fleetcert, SERVER_MAIN } from '../helpers/cli.js';
import { boardRoot } from '../helpers/boards.js';
import { initDataDir } from '../helpers/fleet-server.js';
import { run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { eventsIn } from '../helpers/agent-process.js';

const TRIPWIRE = fileURLToPath(new URL('../helpers/sync-child-tripwire.js', import.meta.url));
/** One unanswered lookup of the host name costs the resolver timeout times its attempts. */
const RESOLVER_STALL_SECONDS = 5 * 2;

test('enrollment with an unresolvable host name and a silent DNS server: no stall, no synchronous child process', async () => {
  await withTempDir(async (dir) => {
    const { dataDir, passphraseFile } = await initDataDir(dir);
    const boot = join(dir, 'fleetcert.json');
    assert.is((await fleetcert(['token', 'create', '--data-dir', dataDir, '--name', 'stall', '--out', boot])).code, 0);
    await writeFile(join(dir, 'resolv.conf'), 'nameserver 10.254.0.53\noptions timeout:5 attempts:2\n');
    await writeFile(join(dir, 'nsswitch.conf'), 'hosts: files dns\n');
    const script = `
      set -eu
      ip link set lo up
      ip link add blackhole type veth peer name void && ip link set blackhole up && ip link set void up
      ip addr add 10.254.0.1/24 dev blackhole
      ip neigh add 10.254.0.53 lladdr 02:00:00:00:00:53 dev blackhole nud permanent
      mount --bind "${dir}/resolv.conf" /etc/resolv.conf
      mount --bind "${dir}/nsswitch.conf" /etc/nsswitch.conf
      hostname board-without-dns
      "${process.execPath}" "${SERVER_MAIN}" serve --data-dir "${dataDir}" --passphrase-file "${passphraseFile}" \\
        --listen 127.0.0.1:0 --json > "${dir}/serve.json" 2> "${dir}/serve.log" &
      server=$!
      for i in $(seq 150); do [ -s "${dir}/serve.json" ] && break; sleep 0.1; done
      port=$(sed -n 's/.*"port":\\([0-9]*\\).*/\\1/p' "${dir}/serve.json")
      start=$(date +%s%N)
      set +e
      "${process.execPath}" --import "${TRIPWIRE}" "${AGENT_MAIN}" enroll --json --timeout 60 --state-dir "${dir}/agent" \\
        --bootstrap "${boot}" --enroll-url "https://localhost:$port" --identity-root "${boardRoot('rpi3-bookworm-armhf')}" \\
        > "${dir}/agent.json" 2> "${dir}/agent.log"
      enrolled=$?
      echo $(( ($(date +%s%N) - start) / 1000000 )) > "${dir}/elapsed-ms"
      kill -TERM $server; wait $server
      exit $enrolled
    `;
    const res = await run('unshare', ['-num', 'bash', '-c', script], { timeoutMs: 90_000 });
    const agentLog = await readFile(join(dir, 'agent.log'), 'utf8').catch(() => '');
    assert.is(res.code, 0, `enrollment failed:\n${res.stderr}\n${agentLog}`);
    const elapsedMs = Number(await readFile(join(dir, 'elapsed-ms'), 'utf8'));
    assert.equal(
      eventsIn(agentLog, 'sync_child_process').map((r) => r.command),
      [],
      'a synchronous child process on the start path',
    );
    assert.ok(elapsedMs < (RESOLVER_STALL_SECONDS - 2) * 1000, `enrollment took ${elapsedMs} ms: it waited for the resolver`);
    // The facts still travel: the server recorded the host name the board had.
    const deviceId = String(JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8')).deviceId);
    const shown = await fleetcert(['device', 'show', deviceId, '--json', '--data-dir', dataDir]);
    assert.is(shown.code, 0, shown.stderr);
    const metadata = JSON.parse(shown.stdout).device.metadata as Record<string, string>;
    assert.is(metadata.hostname, 'board-without-dns');
    assert.match(metadata.os ?? '', /\S/);
  });
});

test.run();
