/**
 * A broker with a public server certificate (as EMQX Cloud with Let's Encrypt): the bootstrap file
 * says how the agent verifies the broker (`brokerTrust`), enrollment still verifies the pinned fleet
 * CA. Here a separate test CA plays the public one: the broker presents a certificate from it while
 * still requiring fleet client certificates.
 * - `system`: the runtime's default trust store. The test CA is added to it with NODE_EXTRA_CA_CERTS,
 *   the one way to extend Node's default store for one process without touching the host's
 *   /etc/ssl (which would change every other test on this machine);
 * - `{ caFile }`: the given file and nothing else (no NODE_EXTRA_CA_CERTS);
 * - the default (`fleet-ca`) refuses that broker, once, without a reconnect loop;
 * - serve's renewal of its own broker certificate leaves the operator's certificate in place.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PeculiarIssuer } from '#server/authority/peculiar-issuer.js';
import { issueServerTls } from '#server/authority/server-tls.js';
import { certificateToPem } from '#shared/pki/certificate.js';
import { startAgent } from '../helpers/agent-process.js';
import { BOARDS_DIR } from '../helpers/boards.js';
import { fleetcert } from '../helpers/cli.js';
import { startFleetWithBroker, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { waitForEvent } from '../helpers/fleet-server.js';
import { makeTestPki } from '../helpers/test-pki.js';
import { withTempDir } from '../helpers/temp-dir.js';

async function bootstrapFile(fleet: FleetWithBroker, dir: string, name: string, trust: string[]): Promise<string> {
  const out = join(dir, `${name}.json`);
  const res = await fleetcert([
    ...['token', 'create', '--data-dir', fleet.server.dataDir, '--name', name],
    ...['--enroll-url', `https://localhost:${fleet.server.port}`, ...trust, '--out', out],
  ]);
  assert.is(res.code, 0, res.stderr);
  return out;
}

function agentArgs(fleet: FleetWithBroker, dir: string, name: string, bootstrap: string, board: string): string[] {
  return [
    ...['run', '--state-dir', join(dir, `state-${name}`), '--bootstrap', bootstrap],
    ...['--broker', `127.0.0.1:${fleet.brokerPort}`, '--broker-servername', 'localhost'],
    ...['--identity-root', join(BOARDS_DIR, board), '--hooks-dir', join(dir, `hooks-${name}`)],
  ];
}

test('brokerTrust: system (test CA via NODE_EXTRA_CA_CERTS) and caFile connect to a publicly certified broker; fleet-ca refuses it', async () => {
  await withTempDir(async (dir) => {
    // Short server-certificate lifetimes: serve's renewals must leave the operator's broker certificate alone.
    const fleet = await startFleetWithBroker(dir, ['--server-cert-lifetime', '9s']);
    const agents: ReturnType<typeof startAgent>[] = [];
    try {
      // The broker now presents a certificate from another ("public") CA; client certificates are still the fleet's.
      const publicPki = await makeTestPki(new Date(), 'ec-p256', 'Public');
      const publicCert = await issueServerTls(new PeculiarIssuer(publicPki.intermediate), {
        subject: { commonName: 'localhost' },
        dnsNames: ['localhost'],
        ipAddresses: [],
        keyType: 'ec-p256',
        now: new Date(),
        lifetimeSeconds: 3600,
      });
      await writeFile(join(fleet.outDir, 'broker.key'), publicCert.keyPem, { mode: 0o600 });
      await writeFile(join(fleet.outDir, 'broker.pem'), publicCert.certPem);
      process.kill(Number((await readFile(join(dir, 'run', 'mosquitto.pid'), 'utf8')).trim()), 'SIGHUP');
      const publicRoot = join(dir, 'public-root.pem');
      await writeFile(publicRoot, certificateToPem(publicPki.root.certificate));
      await new Promise((r) => setTimeout(r, 400));

      const system = startAgent(
        agentArgs(fleet, dir, 'sys', await bootstrapFile(fleet, dir, 'sys', ['--broker-trust', 'system']), 'rpi4-bookworm-arm64'),
        { env: { NODE_EXTRA_CA_CERTS: publicRoot } },
      );
      agents.push(system);
      const file = startAgent(
        agentArgs(fleet, dir, 'file', await bootstrapFile(fleet, dir, 'file', ['--broker-trust', publicRoot]), 'rpi3-bookworm-armhf'),
      );
      agents.push(file);
      const fleetCa = startAgent(agentArgs(fleet, dir, 'fleet', await bootstrapFile(fleet, dir, 'fleet', []), 'generic-x86'));
      agents.push(fleetCa);

      await system.waitForEvent('mqtt_connected', 20_000);
      await file.waitForEvent('mqtt_connected', 20_000);
      // Enrolled (the endpoint is verified with the pinned fleet CA), then refused the broker: no loop.
      const refused = await fleetCa.waitForEvent('mqtt_refused', 20_000);
      assert.is(refused.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
      assert.is(fleetCa.events('mqtt_connected').length, 0);
      await new Promise((r) => setTimeout(r, 1_000));
      assert.is(fleetCa.events('mqtt_refused').length, 1, 'one refusal, then the slow retry');
      // serve renewed its broker certificate meanwhile, but the broker's public one is not replaced.
      await waitForEvent(fleet.server, 'server_tls_broker_copy_skipped', { timeoutMs: 15_000 });
      assert.is(await readFile(join(fleet.outDir, 'broker.pem'), 'utf8'), publicCert.certPem);
      // The boot file keeps brokerTrust once the token has left it: the next start verifies the same way.
      assert.equal(JSON.parse(await readFile(join(dir, 'file.json'), 'utf8')).brokerTrust, { caFile: publicRoot });
    } finally {
      for (const agent of agents) await agent.stop();
      await fleet.stop();
    }
  });
});

test.run();
