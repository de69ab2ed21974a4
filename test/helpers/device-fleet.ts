/**
 * The set-up the agent's integration suites share: a fleet (server + Mosquitto) in a temp dir, a
 * token with its bootstrap file, and the command line of one simulated board: its own state
 * directory, its own copy of the boot card (the agent moves the token off it after enrolling), the
 * broker on loopback, a real board's identity files and an id template that keeps boards apart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { boardRoot, type BoardName } from './boards.js';
import { bootCard } from './boot-card.js';
import { fleetcert } from './cli.js';
import { startFleetWithBroker, type FleetWithBroker } from './fleet-broker.js';

export interface DeviceFleet {
  readonly dir: string;
  readonly fleet: FleetWithBroker;
  /** The token's bootstrap file, as `fleetcert token create --out` wrote it. */
  readonly boot: string;
  stateDir(name: string): string;
  /** Every option `fleetcert-agent` needs to act as board `name`. */
  agentArgs(name: string): string[];
  stop(): Promise<void>;
}

export interface DeviceFleetOptions {
  /** Temp dir prefix. */
  readonly prefix: string;
  readonly token: TokenSpec;
  readonly board?: BoardName;
  /** Extra `fleetcert serve` options (short lifetimes...). */
  readonly serverArgs?: readonly string[];
  /** Where board `name` keeps its state (default `<dir>/state-<name>`). */
  readonly stateDir?: (dir: string, name: string) => string;
}

export interface TokenSpec {
  readonly name: string;
  readonly uses?: number;
  /** Further `token create` options (`--reenroll allow`, `--approval manual`...). */
  readonly options?: readonly string[];
}

/** `fleetcert token create` for this fleet, its bootstrap file written to `out`. */
export async function createBootstrapToken(fleet: FleetWithBroker, out: string, token: TokenSpec): Promise<void> {
  const res = await fleetcert([
    'token',
    'create',
    '--data-dir',
    fleet.server.dataDir,
    '--name',
    token.name,
    ...(token.uses === undefined ? [] : ['--uses', String(token.uses)]),
    ...(token.options ?? []),
    '--out',
    out,
    '--enroll-url',
    `https://localhost:${fleet.server.port}`,
  ]);
  assert.is(res.code, 0, res.stderr);
}

/** A board's `fleetcert-agent` options: its state, its bootstrap file, the broker on loopback, its identity files. */
export function boardArgs(p: {
  stateDir: string;
  bootstrap: string;
  brokerPort: number;
  identityRoot: string;
  idTemplate?: string;
}): string[] {
  return [
    '--state-dir',
    p.stateDir,
    '--bootstrap',
    p.bootstrap,
    '--broker',
    `127.0.0.1:${p.brokerPort}`,
    '--broker-servername',
    'localhost',
    '--identity-root',
    p.identityRoot,
    ...(p.idTemplate === undefined ? [] : ['--id-template', p.idTemplate]),
  ];
}

export async function startDeviceFleet(options: DeviceFleetOptions): Promise<DeviceFleet> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix));
  const fleet = await startFleetWithBroker(dir, options.serverArgs);
  const boot = join(dir, 'fleetcert.json');
  await createBootstrapToken(fleet, boot, options.token);
  const stateDir = (device: string) => options.stateDir?.(dir, device) ?? join(dir, `state-${device}`);
  return {
    dir,
    fleet,
    boot,
    stateDir,
    agentArgs: (device) =>
      boardArgs({
        stateDir: stateDir(device),
        bootstrap: bootCard(dir, device, boot),
        brokerPort: fleet.brokerPort,
        identityRoot: boardRoot(options.board ?? 'rpi4-bookworm-arm64'),
        idTemplate: `${device}-{serial}`,
      }),
    stop: async () => {
      await fleet.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
