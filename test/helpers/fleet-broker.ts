/**
 * The whole server side, real: `fleetcert init`, `broker-config` on free loopback ports, the
 * Debian mosquitto started with that config, and `fleetcert serve` (which also runs its MQTT
 * client and CRL refresher against that broker).
 */
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fleetcert } from './cli.js';
import { createToken, initDataDir, startServer, type FleetServer } from './fleet-server.js';
import { startMosquitto, type Broker } from './mosquitto.js';
import { freePort } from './ports.js';

export interface FleetWithBroker {
  readonly server: FleetServer;
  readonly broker: Broker;
  readonly brokerPort: number;
  readonly adminPort: number;
  readonly outDir: string;
  /** Root + issuing CA, what devices trust. */
  readonly caPem: string;
  readonly token: string;
  stop(): Promise<void>;
}

export interface FleetOptions {
  /**
   * Also open a loopback listener without authentication on this port: the test's own
   * observer (a "backend elsewhere" that may read every device's topics). Never in production.
   */
  readonly observerPort?: number;
}

export async function startFleetWithBroker(
  dir: string,
  serveArgs: readonly string[] = [],
  options: FleetOptions = {},
): Promise<FleetWithBroker> {
  const root = process.getuid?.() === 0;
  if (root) await chmod(dir, 0o755);
  // Mosquitto writes its pid file after dropping to its user, as into /run/mosquitto.
  const run = join(dir, 'run');
  await mkdir(run);
  if (root) await chown(run, Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim()), 0);
  const existing = await initDataDir(dir);
  const brokerPort = await freePort();
  const adminPort = await freePort();
  const outDir = join(dir, 'broker');
  const res = await fleetcert([
    'broker-config',
    '--data-dir',
    existing.dataDir,
    '--passphrase-file',
    existing.passphraseFile,
    '--out',
    outDir,
    '--port',
    String(brokerPort),
    '--bind',
    '127.0.0.1',
    '--admin-port',
    String(adminPort),
    '--host',
    'localhost',
    '--reload-pid-file',
    join(run, 'mosquitto.pid'),
    '--json',
  ]);
  if (res.code !== 0) throw new Error(`broker-config failed: ${res.stderr}`);
  const observer = options.observerPort ? `listener ${options.observerPort} 127.0.0.1\nallow_anonymous true\n` : '';
  const broker = await startMosquitto(dir, outDir, join(run, 'mosquitto.pid'), observer);
  const server = await startServer(dir, ['--max-auth-failures', '100000', ...serveArgs], existing);
  const { token } = await createToken(existing.dataDir);
  return {
    server,
    broker,
    brokerPort,
    adminPort,
    outDir,
    caPem: await readFile(join(outDir, 'ca.pem'), 'utf8'),
    token,
    stop: async () => {
      await server.stop();
      await broker.stop();
    },
  };
}
