/**
 * The agent on ARM as a board runs it: Debian 12's own `nodejs` (18.x) for arm64 and for armhf,
 * under qemu-user, against the real server and Mosquitto on loopback (both native). Each
 * enrolls from a bootstrap file, connects over mutual TLS, then `renew --force` renews with a new
 * key. Emulation is 10-20x slower than native: the timings are printed, and the whole file has
 * to stay within a few minutes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent } from '../helpers/agent-process.js';
import { armNode, type ArmArch } from '../helpers/arm-node.js';
import { boardRoot, type BoardName } from '../helpers/boards.js';
import { bootCard } from '../helpers/boot-card.js';
import { AGENT_MAIN, fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { startFleetWithBroker, type FleetWithBroker } from '../helpers/fleet-broker.js';
import { run } from '../helpers/run.js';
import { boardArgs, createBootstrapToken } from '../helpers/device-fleet.js';

// The single-file bundle is what a board installs; until `npm run build` makes it, the compiled
// entry point with the repository's node_modules (pure JS for the agent) stands in.
const BUNDLE = fileURLToPath(new URL('../../bundle/fleetcert-agent.mjs', import.meta.url));
const AGENT = existsSync(BUNDLE) ? BUNDLE : AGENT_MAIN;

const BOARDS: Record<ArmArch, BoardName> = { arm64: 'rpi4-bookworm-arm64', armhf: 'rpi3-bookworm-armhf' };
/** Generous: Node 18 alone takes ~3 s to start under qemu, loading the agent many times that. */
const EMULATED_MS = 180_000;

const ctx: { dir?: string; fleet?: FleetWithBroker; boot?: string } = {};
const it = suite('agent-arm', ctx);

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-arm-'));
  ctx.fleet = await startFleetWithBroker(ctx.dir);
  ctx.boot = join(ctx.dir, 'fleetcert.json');
  await createBootstrapToken(ctx.fleet, ctx.boot, { name: 'arm', uses: 4 });
});
it.after(async () => {
  await ctx.fleet?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

for (const arch of ['arm64', 'armhf'] as const) {
  it(`${arch}: Debian's node 18 under qemu-user enrolls, connects over mTLS, and renew --force renews`, async () => {
    const started = Date.now();
    const node = await armNode(arch);
    assert.match(node.version, /^v18\./);
    const program = [...node.program, AGENT];
    const state = join(ctx.dir!, `state-${arch}`);
    const boot = bootCard(ctx.dir!, arch, ctx.boot!);
    const args = [
      ...boardArgs({
        stateDir: state,
        bootstrap: boot,
        brokerPort: ctx.fleet!.brokerPort,
        identityRoot: boardRoot(BOARDS[arch]),
        idTemplate: `${arch}-{serial}`,
      }),
    ];
    const timings: Record<string, number> = { sysrootMs: Date.now() - started };

    const t0 = Date.now();
    const agent = startAgent(['run', ...args], { program });
    try {
      // Loaded, clock checked, key made on the "device": the first event of a first boot.
      await agent.waitForEvent('key_generated', EMULATED_MS);
      timings.keyGeneratedMs = Date.now() - t0;
      const installed = await agent.waitForEvent('certificate_installed', EMULATED_MS);
      timings.enrolledMs = Date.now() - t0;
      const connected = await agent.waitForEvent('mqtt_connected', EMULATED_MS);
      timings.connectedMs = Date.now() - t0;
      assert.is(connected.clientId, installed.deviceId, 'the certificate CN is the MQTT client id');
      assert.not.match(await readFile(boot, 'utf8'), /fct_/, 'the token left the boot partition');
    } finally {
      assert.is(await agent.stop(), 0, agent.logs());
    }

    const before = JSON.parse(
      (await fleetcertAgent(['status', '--json', '--state-dir', state, '--identity-root', boardRoot(BOARDS[arch])])).stdout,
    );
    const t1 = Date.now();
    const renewed = await run(program[0]!, [...program.slice(1), 'renew', '--force', '--json', ...args], { timeoutMs: EMULATED_MS });
    timings.renewMs = Date.now() - t1;
    assert.is(renewed.code, 0, renewed.stderr);
    const after = JSON.parse(
      (await fleetcertAgent(['status', '--json', '--state-dir', state, '--identity-root', boardRoot(BOARDS[arch])])).stdout,
    );
    assert.is(after.deviceId, before.deviceId);
    assert.is.not(after.serialNumber, before.serialNumber, 'a new certificate');
    const devices = await fleetcert(['device', 'show', String(after.deviceId), '--json', '--data-dir', ctx.fleet!.server.dataDir]);
    assert.is(JSON.parse(devices.stdout).certificates.find((c: { status: string }) => c.status === 'active')?.serial, after.serialNumber);

    timings.totalMs = Date.now() - started;
    const what = AGENT === BUNDLE ? 'bundle' : 'dist/agent/main.js';
    console.log(`[agent-arm] ${arch} node ${node.version} (${what}): ${JSON.stringify(timings)}`);
  });
}

it.run();
