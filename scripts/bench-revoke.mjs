#!/usr/bin/env node
// Time from "fleetcert device revoke" to the device being cut off, against the real broker:
// init, broker-config and Mosquitto on loopback ports, serve, N devices enrolled over EST and
// connected over mTLS (reconnecting every 100 ms, like a naive client). Each revocation is the
// real CLI in its own process; we measure the CLI's wall time and the time until the device's
// connection closes, and check that it never gets back in.
// Usage: node scripts/bench-revoke.mjs [--devices 10]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl', 'mosquitto'] });

const i = process.argv.indexOf('--devices');
const DEVICES = i > 0 ? Number(process.argv[i + 1]) : 10;
// The test harness compiled with the project: real processes, nothing mocked.
const { startFleetWithBroker } = await import(join(ROOT, 'dist', 'test', 'helpers', 'fleet-broker.js'));
const { enrollDevice } = await import(join(ROOT, 'dist', 'test', 'helpers', 'est-client.js'));
const { connectDevice } = await import(join(ROOT, 'dist', 'test', 'helpers', 'mqtt-device.js'));

const dir = mkdtempSync(join(tmpdir(), 'fleetcert-bench-revoke-'));
const fleet = await startFleetWithBroker(dir);
const cli = join(ROOT, 'dist', 'server', 'main.js');
const cliMs = [];
const cutoffMs = [];
let reconnects = 0;
try {
  const devices = [];
  for (let n = 0; n < DEVICES; n += 1) devices.push(await enrollDevice(fleet.server, fleet.token, `bench-rev-${n}`));
  const clients = await Promise.all(
    devices.map((d) => connectDevice(d, { caPem: fleet.caPem, port: fleet.brokerPort, reconnectPeriod: 100 })),
  );
  for (const [n, client] of clients.entries()) {
    const closed = new Promise((resolve) => client.once('close', () => resolve(performance.now())));
    client.on('connect', () => (reconnects += 1));
    const started = performance.now();
    const res = spawnSync(process.execPath, [
      cli,
      'device',
      'revoke',
      devices[n].id,
      '--data-dir',
      fleet.server.dataDir,
      '--passphrase-file',
      fleet.server.passphraseFile,
    ]);
    if (res.status !== 0) throw new Error(`revoke failed: ${String(res.stderr)}`);
    cliMs.push(performance.now() - started);
    cutoffMs.push((await closed) - started);
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const still = clients.filter((c) => c.connected).length;
  clients.forEach((c) => c.end(true));
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: Math.round(s[0]), p50: Math.round(s[Math.floor(s.length / 2)]), max: Math.round(s[s.length - 1]) };
  };
  process.stdout.write(
    JSON.stringify(
      {
        devices: DEVICES,
        revokeCliMs: stats(cliMs),
        sessionEndedAfterMs: stats(cutoffMs),
        reconnectsAfterRevocation: reconnects,
        stillConnected: still,
        node: process.version,
      },
      null,
      2,
    ) + '\n',
  );
  if (still > 0 || reconnects > 0) process.exitCode = 1;
} finally {
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
