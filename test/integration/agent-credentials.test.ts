/**
 * Corrupt credential files on the device (an SD card that lost a write, a half-copied backup)
 * never spend a use of the fleet token: the real agent against the real server and broker falls
 * back to its previous generation or stops with `credentials_corrupt`; the registry's token use
 * count is the witness. The token allows re-enrollment, the case in which a silent enrollment
 * would succeed and go unnoticed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCertificate, readCertificate } from '#shared/pki/certificate.js';
import { eventsIn, startAgent } from '../helpers/agent-process.js';
import { fleetcertAgent } from '../helpers/cli.js';
import { registrySnapshot } from '../helpers/fleet-server.js';
import { startDeviceFleet, type DeviceFleet } from '../helpers/device-fleet.js';

const ctx: { devices?: DeviceFleet } = {};
const it = suite('agent-credentials', ctx);
const TOKEN = 'corruption';

it.before(async () => {
  ctx.devices = await startDeviceFleet({
    prefix: 'fleetcert-credentials-',
    token: { name: TOKEN, uses: 20, options: ['--reenroll', 'allow'] },
  });
});
it.after(async () => {
  await ctx.devices?.stop();
});

const tokenUses = () =>
  (registrySnapshot(ctx.devices!.fleet.server.dataDir).tokens as { name: string; uses: number }[]).find((t) => t.name === TOKEN)!.uses;
const issuedCount = () => registrySnapshot(ctx.devices!.fleet.server.dataDir).certificates!.length;

const agentArgs = (name: string) => ctx.devices!.agentArgs(name);

/** Enrolls (one token use) and, with `renewals`, renews with --force that often: one generation each. */
async function enrolledDevice(name: string, renewals: number): Promise<string> {
  const enrolled = await fleetcertAgent(['enroll', ...agentArgs(name)]);
  assert.is(enrolled.code, 0, enrolled.stderr);
  for (let i = 0; i < renewals; i += 1) {
    const renewed = await fleetcertAgent(['renew', '--force', ...agentArgs(name)]);
    assert.is(renewed.code, 0, renewed.stderr);
  }
  return ctx.devices!.stateDir(name);
}

async function truncate(path: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.slice(0, Math.floor(text.length / 2)));
}

/** One changed base64 character inside the private scalar of the P-256 PKCS#8 key: it still parses. */
async function flipKeyByte(path: string): Promise<void> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  const body = lines[1]!;
  lines[1] = body.slice(0, 52) + (body[52] === 'A' ? 'B' : 'A') + body.slice(53);
  await writeFile(path, lines.join('\n'));
}

it('a truncated live cert.pem: the service falls back, fetches the current certificate for the intact key again, connects; no token use', async () => {
  const state = await enrolledDevice('trunc', 1);
  const current = describeCertificate(readCertificate(await readFile(join(state, 'live/cert.pem'), 'utf8'))).serialNumber;
  const uses = tokenUses();
  const issued = issuedCount();
  await truncate(join(state, 'live/cert.pem'));
  const agent = startAgent(['run', ...agentArgs('trunc')]);
  try {
    const fallback = await agent.waitForEvent('credentials_fallback');
    assert.equal([fallback.generation, fallback.unusable], ['000001', '000002']);
    // Generation 1 was superseded, and revoked at the broker once 2 was proven: only 2's key is of use.
    assert.is((await agent.waitForEvent('credentials_key_salvaged')).generation, '000002');
    await agent.waitForEvent('mqtt_connected', 30_000, { match: { serial: current } });
  } finally {
    assert.is(await agent.stop(), 0);
  }
  assert.is(tokenUses(), uses, 'the token was not used');
  assert.is(issuedCount(), issued, 'nothing was issued: the server handed back the current certificate');
  const live = await readlink(join(state, 'live'));
  assert.is(describeCertificate(readCertificate(await readFile(join(state, live, 'cert.pem'), 'utf8'))).serialNumber, current);
  assert.ok((await readdir(join(state, 'generations'))).includes('000002.corrupt'), 'the broken generation is kept for inspection');
});

it('a flipped byte in live key.pem: `enroll` falls back to the previous generation; no token use', async () => {
  const state = await enrolledDevice('flip', 1);
  const uses = tokenUses();
  await flipKeyByte(join(state, 'live/key.pem'));
  const res = await fleetcertAgent(['enroll', '--json', ...agentArgs('flip')]);
  assert.is(res.code, 0, res.stderr);
  assert.is(JSON.parse(res.stdout).enrolledNow, false);
  assert.match(String(eventsIn(res.stderr, 'credentials_fallback')[0]?.problem), /is not the key of/);
  assert.is(tokenUses(), uses);
});

it('corrupt with nothing to fall back to: enroll, run and status stop with credentials_corrupt (exit 3); no token use', async () => {
  const state = await enrolledDevice('stop', 0);
  const uses = tokenUses();
  await flipKeyByte(join(state, 'live/key.pem'));
  for (const command of ['enroll', 'run', 'status']) {
    const res = await fleetcertAgent([command, '--json', ...agentArgs('stop')], { timeoutMs: 20_000 });
    assert.is(res.code, 3, `${command}: ${res.stderr}`);
    assert.is(JSON.parse(res.stdout.trim().split('\n').at(-1)!).code, 'credentials_corrupt', command);
    assert.match(res.stderr, /hint: restore .*generations from a backup/);
    assert.not.match(res.stderr, /PRIVATE KEY/);
  }
  assert.is(tokenUses(), uses, 'the token was not used');
});

it.run();
