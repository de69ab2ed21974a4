/**
 * mDNS advertisement, for real: `fleetcert serve --mdns` and a bonjour-service browser run
 * together inside a private network namespace (`unshare -rn`, loopback only), so the test
 * sends no multicast onto any real network.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_MAIN, fleetcert, SERVER_MAIN } from '../helpers/cli.js';
import { boardRoot } from '../helpers/boards.js';
import { initDataDir } from '../helpers/fleet-server.js';
import { run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { MDNS_CONTRACT_VERSION, MDNS_SERVICE_TYPE, MDNS_TXT } from '#shared/protocol/discovery.js';
import { eventsIn } from '../helpers/agent-process.js';

const BROWSE = fileURLToPath(new URL('../helpers/mdns-browse.js', import.meta.url));

test('serve --mdns advertises _secure-mqtt._tcp with the broker port, host and TXT fleetcert=<enrollment port>', async () => {
  const probe = await run('unshare', ['-rn', 'true']);
  assert.is(probe.code, 0, `this test needs network namespaces (run as root, or enable unprivileged user namespaces): ${probe.stderr}`);
  await withTempDir(async (dir) => {
    const { dataDir, passphraseFile } = await initDataDir(dir);
    const config = await fleetcert([
      'broker-config',
      '--data-dir',
      dataDir,
      '--passphrase-file',
      passphraseFile,
      '--out',
      join(dir, 'broker'),
      '--port',
      '18883',
      '--admin-port',
      '18884',
      '--host',
      'pi-gw.local',
    ]);
    assert.is(config.code, 0, config.stderr);
    const script = `
      set -u
      ip link set lo up
      "${process.execPath}" "${BROWSE}" 10000 > "${dir}/found.json" &
      browser=$!
      "${process.execPath}" "${SERVER_MAIN}" serve --data-dir "${dataDir}" --passphrase-file "${passphraseFile}" \\
        --listen 127.0.0.1:0 --json --mdns --mdns-interface lo > "${dir}/serve.json" 2> "${dir}/serve.log" &
      server=$!
      wait $browser; found=$?
      # The announcement can come before serve prints its port: wait for that line.
      for i in $(seq 100); do [ -s "${dir}/serve.json" ] && break; sleep 0.1; done
      kill -TERM $server; wait $server
      exit $found
    `;
    const res = await run('unshare', ['-rn', 'bash', '-c', script], { timeoutMs: 20_000 });
    const serveLog = await readFile(join(dir, 'serve.log'), 'utf8').catch(() => '');
    assert.is(res.code, 0, `no service found:\n${res.stderr}\n${serveLog}`);
    const found = JSON.parse(await readFile(join(dir, 'found.json'), 'utf8'));
    const serve = JSON.parse((await readFile(join(dir, 'serve.json'), 'utf8')).split('\n')[0]!);
    assert.is(found.type, MDNS_SERVICE_TYPE);
    assert.is(found.port, 18883);
    assert.is(found.host, 'pi-gw.local');
    assert.equal(found.txt, { [MDNS_TXT.enrollPort]: String(serve.port), [MDNS_TXT.version]: MDNS_CONTRACT_VERSION });
    assert.is(eventsIn(serveLog, 'mdns_advertising').length, 1, serveLog);
  });
});

test('an agent with no URL and no broker finds both over mDNS and enrolls (private network namespace)', async () => {
  await withTempDir(async (dir) => {
    const { dataDir, passphraseFile } = await initDataDir(dir);
    const config = await fleetcert([
      'broker-config',
      '--data-dir',
      dataDir,
      '--passphrase-file',
      passphraseFile,
      '--out',
      join(dir, 'broker'),
      '--port',
      '18883',
      '--admin-port',
      '18884',
      '--host',
      'localhost',
    ]);
    assert.is(config.code, 0, config.stderr);
    const boot = join(dir, 'fleetcert.json');
    assert.is((await fleetcert(['token', 'create', '--data-dir', dataDir, '--name', 'lan', '--out', boot])).code, 0);
    const state = join(dir, 'agent');
    const boards = boardRoot('rpi4-bookworm-arm64');
    const script = `
      set -u
      ip link set lo up
      "${process.execPath}" "${SERVER_MAIN}" serve --data-dir "${dataDir}" --passphrase-file "${passphraseFile}" \\
        --listen 127.0.0.1:0 --json --mdns --mdns-interface lo > "${dir}/serve.json" 2> "${dir}/serve.log" &
      server=$!
      for i in $(seq 100); do [ -s "${dir}/serve.json" ] && break; sleep 0.1; done
      "${process.execPath}" "${AGENT_MAIN}" enroll --json --timeout 60 --state-dir "${state}" --bootstrap "${boot}" \\
        --identity-root "${boards}" > "${dir}/agent.json" 2> "${dir}/agent.log"
      enrolled=$?
      kill -TERM $server; wait $server
      exit $enrolled
    `;
    const res = await run('unshare', ['-rn', 'bash', '-c', script], { timeoutMs: 90_000 });
    const agentLog = await readFile(join(dir, 'agent.log'), 'utf8').catch(() => '');
    assert.is(res.code, 0, `agent failed:\n${agentLog}\n${res.stderr}`);
    assert.is(eventsIn(agentLog, 'broker_discovered').length, 1, agentLog);
    assert.is(JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8')).deviceId, 'rpi4-100000002a5c3b71');
    const serve = JSON.parse((await readFile(join(dir, 'serve.json'), 'utf8')).split('\n')[0]!);
    const info = JSON.parse(await readFile(join(state, 'broker.json'), 'utf8'));
    // The broker's name, not the address it answered from: every connection resolves it again.
    assert.equal(info.broker, { host: 'localhost', port: 18883, servername: 'localhost' });
    assert.equal(info.enroll, { url: `https://localhost:${serve.port}`, servername: 'localhost' });
    assert.is(info.source, 'mdns');
  });
});

test('serve --mdns without a configured broker refuses to start (exit 5), with a hint', async () => {
  await withTempDir(async (dir) => {
    const { dataDir, passphraseFile } = await initDataDir(dir);
    const res = await fleetcert(['serve', '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--listen', '127.0.0.1:0', '--mdns']);
    assert.is(res.code, 5);
    assert.match(res.stderr, /broker-config/);
  });
});

test.run();
