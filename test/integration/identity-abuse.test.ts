/**
 * Identity abuse against the real `fleetcert serve` and the real CLI (issue 11, item 4): with
 * manual approval, a pending request is bound to its key. Another token holder's key for the
 * same id is refused and flagged, the operator approves the key the device logged (and only
 * that one), the attacker's key never gets a certificate, and a re-flashed board goes through
 * `fleetcert device reset`. The registry rows and the audit trail are read back through
 * `device show --json` and straight from the SQLite file.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCertificate } from '#shared/pki/certificate.js';
import { sha256Hex } from '#shared/pki/encoding.js';
import { exportPublicKeySpki, type KeyPair } from '#shared/pki/key-pair.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, est, type EstResponse } from '../helpers/est-client.js';
import { createToken, registrySnapshot, startServer, waitForEvent, type FleetServer } from '../helpers/fleet-server.js';

const ctx: { server?: FleetServer; dir?: string } = {};
const it = suite('identity-abuse', ctx);

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-abuse-'));
  ctx.server = await startServer(ctx.dir, ['--pending-retry', '1s']);
});
it.after(async () => {
  await ctx.server?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

/** One board (or one attacker) with its own key, enrolling under a token. */
interface Claimant {
  readonly keys: KeyPair;
  readonly keySha256: string;
  enroll(token: string): Promise<EstResponse>;
}

async function claimant(id: string): Promise<Claimant> {
  const csr = await deviceCsr(id);
  const keySha256 = sha256Hex(await exportPublicKeySpki(csr.keys));
  return {
    keys: csr.keys,
    keySha256,
    enroll: (token) => est(ctx.server!, { path: EST_PATHS.simpleEnroll, token, contentType: 'application/pkcs10', body: csr.body }),
  };
}

const cli = (...args: string[]) => fleetcert([...args, '--data-dir', ctx.server!.dataDir]);
const json = async (...args: string[]) => {
  const res = await cli(...args, '--json');
  return { code: res.code, stderr: res.stderr, out: JSON.parse(res.stdout) };
};

/** The key the issued certificate certifies. */
const issuedKey = (res: EstResponse) =>
  describeCertificate(decodeCertsOnly(Buffer.from(res.body, 'base64'))[0]!).publicKeyFingerprintSha256;

function assertRefusedAsPending(res: EstResponse, firstKey: string): void {
  assert.is(res.status, 409, res.body);
  assert.is(res.json?.code, 'id_pending');
  assert.not.match(res.body, firstKey, 'the refusal must not tell the attacker which key is waiting');
  assert.not.match(res.body, firstKey.slice(0, 16));
}

it('the attack: a second key for a pending id is refused and flagged; the board key is approved; the attacker never gets it', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--approval', 'manual']);
  const board = await claimant('plant-7-pi');
  const attacker = await claimant('plant-7-pi');

  assert.is((await board.enroll(token)).status, 202);
  // Today's main answered 202 here and replaced the board's key with the attacker's.
  assertRefusedAsPending(await attacker.enroll(token), board.keySha256);
  await waitForEvent(server, 'enrollment_refused');
  assert.is((await board.enroll(token)).status, 202, 'the board keeps waiting');

  const listed = await json('device', 'list', '--pending');
  assert.is(listed.code, 0, listed.stderr);
  const row = listed.out.devices.find((d: { id: string }) => d.id === 'plant-7-pi');
  assert.is(row.pendingKeySha256, board.keySha256, 'the list shows the key the board logged');
  assert.is(row.contested, 1, 'and that another key tried');
  const table = await cli('device', 'list', '--pending');
  assert.match(table.stdout, board.keySha256);
  assert.match(table.stdout, /CONTESTED/);

  // A contested id is approved only for the key the operator names (the one the board logged).
  const blind = await cli('device', 'approve', 'plant-7-pi');
  assert.is(blind.code, 2, blind.stderr);
  assert.match(blind.stderr, /contested/);
  assert.match(blind.stderr, /hint: fleetcert device approve plant-7-pi --key-sha256/);
  assert.is((await json('device', 'approve', 'plant-7-pi', '--key-sha256', attacker.keySha256)).out.code, 'pending_key_mismatch');
  const approve = await json('device', 'approve', 'plant-7-pi', '--key-sha256', board.keySha256);
  assert.is(approve.code, 0, approve.stderr);
  assert.is(approve.out.device.pendingKeySha256, board.keySha256);

  const attackerAfter = await attacker.enroll(token);
  assertRefusedAsPending(attackerAfter, board.keySha256);
  const issued = await board.enroll(token);
  assert.is(issued.status, 200, issued.body);
  assert.is(issuedKey(issued), board.keySha256, 'the certificate certifies the board key');
  const attackerLast = await attacker.enroll(token);
  assert.is(attackerLast.status, 409, 'an active id refuses the other key too');
  assert.is(attackerLast.json?.code, 'id_taken');

  const shown = await json('device', 'show', 'plant-7-pi');
  assert.is(shown.out.device.status, 'active');
  assert.equal(
    shown.out.certificates.map((c: { keySha256: string }) => c.keySha256),
    [board.keySha256],
    'one certificate, the board key',
  );
  type Audit = { action: string; code: string | null; source: string | null; detail: Record<string, unknown> | null };
  const audit: Audit[] = shown.out.audit;
  assert.equal(
    audit.map((a) => [a.action, a.code, a.detail?.keySha256]),
    [
      ['pending', null, board.keySha256],
      ['refused', 'id_pending', attacker.keySha256],
      ['approved', null, board.keySha256],
      ['refused', 'id_pending', attacker.keySha256],
      ['issued', null, board.keySha256],
      ['refused', 'id_taken', attacker.keySha256],
    ],
  );
  assert.match(audit[1]!.source ?? '', /127\.0\.0\.1/, 'the competing request is audited with its source');
  assert.equal(
    shown.out.contested.map((c: { keySha256: string }) => c.keySha256),
    [attacker.keySha256, attacker.keySha256],
  );
  const text = await cli('device', 'show', 'plant-7-pi');
  assert.match(text.stdout, new RegExp(`refused \\(id_pending\\) key ${attacker.keySha256.slice(0, 16)}`));
  const rows = registrySnapshot(server.dataDir).certificates as { device_id: string; key_sha256: string }[];
  assert.equal(
    rows.filter((c) => c.device_id === 'plant-7-pi').map((c) => c.key_sha256),
    [board.keySha256],
  );
});

it('approve --key-sha256 with another key is pending_key_mismatch (exit 4) and changes nothing; the right key approves', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--approval', 'manual']);
  const board = await claimant('plant-8-pi');
  assert.is((await board.enroll(token)).status, 202);
  const before = registrySnapshot(server.dataDir);

  const wrong = await json('device', 'approve', 'plant-8-pi', '--key-sha256', 'ab'.repeat(32));
  assert.is(wrong.code, 4, wrong.stderr);
  assert.is(wrong.out.code, 'pending_key_mismatch');
  const wrongText = await cli('device', 'approve', 'plant-8-pi', '--key-sha256', 'ab'.repeat(32));
  assert.match(wrongText.stderr, /hint: .*device show plant-8-pi/);
  const malformed = await json('device', 'approve', 'plant-8-pi', '--key-sha256', 'abc');
  assert.is(malformed.code, 2, 'a malformed fingerprint is a usage error');
  assert.equal(registrySnapshot(server.dataDir), before, 'a refused approval writes nothing');
  assert.is((await board.enroll(token)).status, 202, 'still waiting');

  // Fingerprints are compared in any case and with colons, as tools print them.
  const colons = board.keySha256.toUpperCase().match(/../g)!.join(':');
  const right = await json('device', 'approve', 'plant-8-pi', '--key-sha256', colons);
  assert.is(right.code, 0, right.stderr);
  const issued = await board.enroll(token);
  assert.is(issued.status, 200, issued.body);
  assert.is(issuedKey(issued), board.keySha256);
});

it('a competing key after approval (even under a token allowing re-enrollment) is refused; the approved key still gets it', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--approval', 'manual']);
  const { token: open } = await createToken(server.dataDir, ['--reenroll', 'allow']);
  const board = await claimant('plant-9-pi');
  const attacker = await claimant('plant-9-pi');
  assert.is((await board.enroll(token)).status, 202);
  assert.is((await json('device', 'approve', 'plant-9-pi', '--key-sha256', board.keySha256)).code, 0);
  const again = await json('device', 'approve', 'plant-9-pi', '--key-sha256', board.keySha256);
  assert.is(again.code, 4, 'approving an approved device is a conflict (exit 4), not a usage error');
  assert.is(again.out.code, 'device_not_pending');

  assertRefusedAsPending(await attacker.enroll(token), board.keySha256);
  assertRefusedAsPending(await attacker.enroll(open), board.keySha256);
  const shown = await json('device', 'show', 'plant-9-pi');
  assert.is(shown.out.device.status, 'approved');
  assert.is(shown.out.device.pendingKeySha256, board.keySha256);
  assert.is(shown.out.contested.length, 2);
  const listed = await json('device', 'list', '--pending');
  assert.is(listed.out.devices.find((d: { id: string }) => d.id === 'plant-9-pi')?.contested, 2, 'approved, not collected: still listed');

  const issued = await board.enroll(token);
  assert.is(issued.status, 200, issued.body);
  assert.is(issuedKey(issued), board.keySha256);
});

it('a re-flashed board (new key) goes through reset: the old key is refused, the new one waits, is approved and issued', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--approval', 'manual']);
  const before = await claimant('plant-10-pi');
  const reflashed = await claimant('plant-10-pi');
  assert.is((await before.enroll(token)).status, 202);

  const refused = await reflashed.enroll(token);
  assertRefusedAsPending(refused, before.keySha256);
  assert.match(refused.json?.message ?? '', /fleetcert device reset/, 'the refusal says how a re-flashed board gets through');

  const reset = await json('device', 'reset', 'plant-10-pi');
  assert.is(reset.code, 0, reset.stderr);
  assert.is((await reflashed.enroll(token)).status, 202, 'after reset the new key binds the id, waiting for approval');
  const listed = await json('device', 'list', '--pending');
  const row = listed.out.devices.find((d: { id: string }) => d.id === 'plant-10-pi');
  assert.is(row.pendingKeySha256, reflashed.keySha256);
  assert.is(row.contested, 0, 'refusals before the reset do not flag the new binding');

  assertRefusedAsPending(await before.enroll(token), reflashed.keySha256);
  const stale = await json('device', 'approve', 'plant-10-pi', '--key-sha256', before.keySha256);
  assert.is(stale.out.code, 'pending_key_mismatch', 'approving the key seen before the reset is refused');
  assert.is((await json('device', 'approve', 'plant-10-pi', '--key-sha256', reflashed.keySha256)).code, 0);
  const issued = await reflashed.enroll(token);
  assert.is(issued.status, 200, issued.body);
  assert.is(issuedKey(issued), reflashed.keySha256);

  const shown = await json('device', 'show', 'plant-10-pi');
  assert.equal(
    shown.out.audit.map((a: { action: string; code: string | null }) => [a.action, a.code]),
    [
      ['pending', null],
      ['refused', 'id_pending'],
      ['reset', null],
      ['pending', null],
      ['refused', 'id_pending'],
      ['approved', null],
      ['issued', null],
    ],
  );
});

it.run();
