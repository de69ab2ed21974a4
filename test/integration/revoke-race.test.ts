/**
 * `fleetcert device revoke` is another process than `fleetcert serve`: no lock in the server's
 * memory orders it against enrollments. Here the real CLI revokes a device while hundreds of
 * simpleenroll (token allowing re-enrollment) and simplereenroll requests for that device are in
 * flight. Afterwards the revocation must stand: the device is revoked, none of its certificates
 * is active, and every serial any client received is recorded and revoked.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificatesToPem, describeCertificate } from '#shared/pki/certificate.js';
import { exportPrivateKeyPem } from '#shared/pki/key-pair.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import type { RunResult } from '../helpers/run.js';
import { deviceCsr, enrollDevice, est, type EstResponse } from '../helpers/est-client.js';
import { createToken, startServer, type FleetServer } from '../helpers/fleet-server.js';

const ctx: { server?: FleetServer; dir?: string; token?: string } = {};
const it = suite('revoke-race', ctx);
const PKCS10 = 'application/pkcs10';
const ROUNDS = 3;
const MIN_REQUESTS = 200;
const CONCURRENCY = 48;
/** The revoke starts once this many certificates were issued in the round: it then lands among requests being signed. */
const REVOKE_AFTER = 20;

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-revoke-race-'));
  ctx.server = await startServer(ctx.dir, ['--max-auth-failures', '1000000']);
  ctx.token = (await createToken(ctx.server.dataDir, ['--reenroll', 'allow'])).token;
});
it.after(async () => {
  await ctx.server?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

/** A credential a client holds: what it presents for simplereenroll. */
interface Held {
  readonly chainPem: string;
  readonly keyPem: string;
}

interface Prepared {
  readonly body: string;
  readonly keyPem: string;
}

/** CSRs made before the burst, so the burst is requests, not key generation in the test process. */
async function prepareCsrs(id: string, count: number): Promise<Prepared[]> {
  const out: Prepared[] = [];
  for (let i = 0; i < count; i += 1) {
    const csr = await deviceCsr(id);
    out.push({ body: csr.body, keyPem: await exportPrivateKeyPem(csr.keys) });
  }
  return out;
}

function reenroll(body: string, held: Held): Promise<EstResponse> {
  return est(ctx.server!, { path: EST_PATHS.simpleReenroll, contentType: PKCS10, body, cert: held.chainPem, key: held.keyPem });
}

function serialOf(res: EstResponse): { serial: string; chainPem: string } {
  const chain = decodeCertsOnly(Buffer.from(res.body, 'base64'));
  return { serial: describeCertificate(chain[0]!).serialNumber, chainPem: certificatesToPem(chain) };
}

interface Row {
  serial: string;
  status: string;
}

function readDevice(dataDir: string, id: string) {
  const db = new Database(join(dataDir, 'registry.sqlite3'), { readonly: true });
  try {
    const device = db.prepare('SELECT status FROM devices WHERE id = ?').get(id) as { status: string } | undefined;
    const certificates = db.prepare('SELECT serial, status FROM certificates WHERE device_id = ?').all(id) as Row[];
    return { device, certificates };
  } finally {
    db.close();
  }
}

it('device revoke in another process racing 200+ enrollments and renewals of that device: the revocation stands', async () => {
  const server = ctx.server!;
  for (let round = 0; round < ROUNDS; round += 1) {
    const id = `race-${round}`;
    const first = await enrollDevice(server, ctx.token!, id);
    const csrs = await prepareCsrs(id, MIN_REQUESTS * 2);
    let held: Held = { chainPem: first.chainPem, keyPem: first.keyPem };
    const received = new Set<string>([first.serial]);
    const codes = new Map<string, number>();
    let sent = 0;
    let revokeDone = false;
    let revoke: Promise<RunResult> | undefined;
    const startRevoke = () =>
      (revoke ??= fleetcert(['device', 'revoke', id, '--data-dir', server.dataDir, '--json']).finally(() => (revokeDone = true)));
    const worker = async (): Promise<void> => {
      // Keep requests in flight until the revoke has returned and at least MIN_REQUESTS were sent.
      // oxlint-disable-next-line eslint/no-unmodified-loop-condition -- revokeDone is set by the revoke's promise
      while ((!revokeDone || sent < MIN_REQUESTS) && sent < csrs.length) {
        const csr = csrs[sent]!;
        const renew = sent % 2 === 0;
        sent += 1;
        const res = renew
          ? await reenroll(csr.body, held)
          : await est(server, { path: EST_PATHS.simpleEnroll, token: ctx.token!, contentType: PKCS10, body: csr.body });
        if (res.status === 200) {
          const got = serialOf(res);
          received.add(got.serial);
          held = { chainPem: got.chainPem, keyPem: csr.keyPem };
          codes.set('200', (codes.get('200') ?? 0) + 1);
          // Awaited below through `revoke`; this only starts it.
          if (received.size > REVOKE_AFTER) startRevoke().catch(() => undefined);
        } else {
          const code = res.json?.code ?? String(res.status);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          assert.ok(['device_revoked', 'certificate_not_current'].includes(code), `unexpected refusal ${res.status} ${res.body}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const revoked = await startRevoke();
    assert.is(revoked.code, 0, revoked.stderr);
    assert.ok(sent >= MIN_REQUESTS, `only ${sent} requests`);

    const { device, certificates } = readDevice(server.dataDir, id);
    const summary = `round ${round}: ${sent} requests, ${JSON.stringify(Object.fromEntries(codes))}`;
    assert.is(device?.status, 'revoked', `device status after revoke, ${summary}`);
    const active = certificates.filter((c) => c.status === 'active');
    assert.equal(active, [], `no active certificate may survive the revocation, ${summary}`);
    const status = new Map(certificates.map((c) => [c.serial, c.status]));
    for (const serial of received) {
      assert.is(status.get(serial), 'revoked', `serial ${serial} reached a client: it must be recorded and revoked, ${summary}`);
    }
    // And the revocation keeps holding for the next request.
    const after = await reenroll(csrs.at(-1)!.body, held);
    assert.is(after.json?.code, 'device_revoked', after.body);
  }
});

it.run();
