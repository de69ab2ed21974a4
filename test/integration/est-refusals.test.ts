/**
 * Every bad input to the real server: the right HTTP status, the right code, the registry
 * (tokens, devices, certificates) byte-for-byte unchanged, and one `refused` audit row.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorCode } from '#shared/errors.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, est, type EstRequest, type EstResponse } from '../helpers/est-client.js';
import { auditRows, createToken, registrySnapshot, sqlFixture, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { integer, OIDS, rawEcCsr } from '../helpers/raw-csr.js';
import { openssl } from '../helpers/run.js';

const ctx: { server?: FleetServer; dir?: string; token?: string; tokenId?: string } = {};
const it = suite('est-refusals', ctx);
const PKCS10 = 'application/pkcs10';

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-refusals-'));
  // Every auth failure here comes from 127.0.0.1: keep the rate limiter out of the way.
  ctx.server = await startServer(ctx.dir, ['--max-auth-failures', '100000']);
  const t = await createToken(ctx.server.dataDir, ['--id-pattern', 'rpi-*', '--uses', '100']);
  ctx.token = t.token;
  ctx.tokenId = t.id;
});
it.after(async () => {
  await ctx.server?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

/** Sends the request and checks status, code, unchanged registry and the audit row. */
async function refused(req: EstRequest, status: number, code: ErrorCode, audited = true): Promise<EstResponse> {
  const server = ctx.server!;
  const before = registrySnapshot(server.dataDir);
  const auditBefore = auditRows(server.dataDir).length;
  const res = await est(server, req);
  assert.is(res.status, status, `${code}: ${res.body}`);
  assert.is(res.json?.code, code, res.body);
  assert.type(res.json?.message, 'string');
  assert.equal(registrySnapshot(server.dataDir), before, `${code}: the registry must be unchanged`);
  const added = auditRows(server.dataDir).slice(auditBefore);
  if (audited) {
    assert.is(added.length, 1, `${code}: one audit row`);
    assert.is(added[0]!.action, 'refused');
    assert.is(added[0]!.code, code);
  } else {
    assert.is(added.length, 0);
  }
  return res;
}

async function csrFile(args: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetcert-csr-'));
  try {
    await openssl(['req', '-new', '-nodes', '-keyout', join(dir, 'k'), '-outform', 'DER', '-out', join(dir, 'csr'), ...args]);
    return (await readFile(join(dir, 'csr'))).toString('base64');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An enrollment request; `token: null` sends no Authorization header at all. */
const enroll = (body: string, token: string | null = ctx.token!): EstRequest => ({
  path: EST_PATHS.simpleEnroll,
  contentType: PKCS10,
  body,
  ...(token === null ? {} : { token }),
});

it('bad base64 body: 400 csr_invalid', async () => {
  await refused(enroll('this is not base64!!'), 400, 'csr_invalid');
});

it('DER that is not a CSR: 400 csr_invalid', async () => {
  await refused(enroll(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]).toString('base64')), 400, 'csr_invalid');
  const cert = ctx.server!.rootPem.replace(/-----[^-]+-----|\s/g, '');
  await refused(enroll(cert), 400, 'csr_invalid');
});

it('CSR with one flipped signature byte: 400 csr_signature_invalid', async () => {
  const der = Buffer.from((await deviceCsr('rpi-sig-1')).body, 'base64');
  der.writeUInt8(der[der.length - 3]! ^ 0x01, der.length - 3);
  await refused(enroll(der.toString('base64')), 400, 'csr_signature_invalid');
});

it('CSR shapes that crashed the parser are 400 csr_invalid: extensionRequest holding INTEGER 1, explicit EC parameters', async () => {
  const integerRequest = rawEcCsr({ commonName: 'rpi-ext-int', attributes: [{ type: OIDS.extensionRequest, values: [integer(1)] }] });
  await refused(enroll(integerRequest.der.toString('base64')), 400, 'csr_invalid');
  const dir = await mkdtemp(join(tmpdir(), 'fleetcert-csr-'));
  try {
    await openssl(['ecparam', '-name', 'prime256v1', '-param_enc', 'explicit', '-genkey', '-noout', '-out', join(dir, 'k')]);
    await openssl(['req', '-new', '-key', join(dir, 'k'), '-subj', '/CN=rpi-explicit', '-outform', 'DER', '-out', join(dir, 'csr')]);
    await refused(enroll((await readFile(join(dir, 'csr'))).toString('base64')), 400, 'csr_invalid');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('a CSR signed with SHA-1 is refused: 400 csr_invalid', async () => {
  await refused(enroll(rawEcCsr({ commonName: 'rpi-sha1', hash: 'sha1' }).der.toString('base64')), 400, 'csr_invalid');
  // The same CSR signed with SHA-256 is fine: the refusal is about the hash, not the builder.
  assert.is((await est(ctx.server!, enroll(rawEcCsr({ commonName: 'rpi-sha256' }).der.toString('base64')))).status, 200);
});

it('RSA-1024 key: 400 key_too_weak', async () => {
  await refused(enroll(await csrFile(['-newkey', 'rsa:1024', '-subj', '/CN=rpi-weak-1'])), 400, 'key_too_weak');
});

it('no token, malformed token, wrong secret, unknown id: 401 token_invalid with WWW-Authenticate', async () => {
  const body = (await deviceCsr('rpi-auth-1')).body;
  const noAuth = await refused(enroll(body, null), 401, 'token_invalid');
  assert.match(String(noAuth.headers['www-authenticate']), /^Basic realm="fleetcert"/);
  await refused(enroll(body, 'fct_short'), 401, 'token_invalid');
  const wrongSecret = ctx.token!.slice(0, -4) + (ctx.token!.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  await refused(enroll(body, wrongSecret), 401, 'token_invalid');
  await refused(enroll(body, `fct_zzzzzzzzzz_${'A'.repeat(43)}`), 401, 'token_invalid');
});

it('expired token: 401 token_expired', async () => {
  const { token, id } = await createToken(ctx.server!.dataDir, ['--expires', '1h']);
  sqlFixture(ctx.server!.dataDir, 'UPDATE tokens SET expires_at = ? WHERE id = ?', Date.now() - 1000, id);
  await refused(enroll((await deviceCsr('rpi-exp-1')).body, token), 401, 'token_expired');
});

it('used-up token: 403 token_exhausted (the one enrollment it had still counts)', async () => {
  const { token } = await createToken(ctx.server!.dataDir, ['--uses', '1']);
  assert.is((await est(ctx.server!, enroll((await deviceCsr('rpi-once-1')).body, token))).status, 200);
  await refused(enroll((await deviceCsr('rpi-once-2')).body, token), 403, 'token_exhausted');
});

it('revoked token: 401 token_revoked', async () => {
  const { token, id } = await createToken(ctx.server!.dataDir);
  assert.is((await fleetcert(['token', 'revoke', id, '--data-dir', ctx.server!.dataDir])).code, 0);
  await refused(enroll((await deviceCsr('rpi-rev-1')).body, token), 401, 'token_revoked');
});

it("id outside the token's pattern: 403 id_not_allowed; bad syntax: 400 id_invalid; reserved: 400 id_reserved", async () => {
  await refused(enroll((await deviceCsr('opi-not-rpi')).body), 403, 'id_not_allowed');
  const { token } = await createToken(ctx.server!.dataDir);
  await refused(enroll((await deviceCsr('rpi/../etc')).body, token), 400, 'id_invalid');
  await refused(enroll((await deviceCsr('rpi+#')).body, token), 400, 'id_invalid');
  await refused(enroll((await deviceCsr('Fleetcert-Server')).body, token), 400, 'id_reserved');
  await refused(enroll((await deviceCsr('admin')).body, token), 400, 'id_reserved');
});

it("the server's own names (its host name, <host>.local, the names and addresses in its TLS certificate) are reserved: 400 id_reserved", async () => {
  const { token } = await createToken(ctx.server!.dataDir);
  const short = hostname().split('.')[0]!;
  for (const id of [`${short}.local`, short.toUpperCase(), '127.0.0.1']) {
    await refused(enroll((await deviceCsr(id)).body, token), 400, 'id_reserved');
  }
});

it('a CSR without a CN: 400 id_invalid', async () => {
  await refused(enroll(await csrFile(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/O=nobody'])), 400, 'id_invalid');
});

it('body over the 64 KiB cap: 413 payload_too_large, declared or streamed (not audited: never parsed)', async () => {
  await refused(enroll('A'.repeat(70 * 1024)), 413, 'payload_too_large', false);
});

it('wrong content type: 415; unknown path: 404; wrong method: 405 (not audited)', async () => {
  await refused(
    { path: EST_PATHS.simpleEnroll, contentType: 'application/json', body: '{}', token: ctx.token! },
    415,
    'unsupported_media_type',
    false,
  );
  await refused({ path: '/.well-known/est/nope', method: 'GET' }, 404, 'not_found', false);
  await refused({ path: EST_PATHS.simpleEnroll, method: 'GET' }, 405, 'method_not_allowed', false);
});

it('re-enrollment of a live id with another key: 409 id_taken', async () => {
  assert.is((await est(ctx.server!, enroll((await deviceCsr('rpi-live-1')).body))).status, 200);
  await refused(enroll((await deviceCsr('rpi-live-1')).body), 409, 'id_taken');
});

it('garbage of every shape never takes the server down', async () => {
  const server = ctx.server!;
  const shapes: EstRequest[] = [];
  for (let i = 0; i < 40; i += 1) {
    const junk = Buffer.from(Array.from({ length: (i * 37) % 900 }, (_, j) => (i * 31 + j * 17) % 256));
    shapes.push({
      path: EST_PATHS.simpleEnroll,
      contentType: i % 3 ? PKCS10 : 'text/plain',
      body: i % 2 ? junk.toString('base64') : junk,
      token: i % 4 ? ctx.token! : `fct_${'a'.repeat(10)}_${'-'.repeat(43)}`,
      headers: i % 5 === 0 ? { 'x-fleetcert-device': junk.toString('base64url').slice(0, 3000) } : {},
    });
  }
  const results = await Promise.all(shapes.map((s) => est(server, s)));
  for (const r of results) assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}: ${r.body}`);
  const alive = await est(server, { path: EST_PATHS.cacerts, method: 'GET' });
  assert.is(alive.status, 200);
  assert.not.match(server.logs(), /"level":"error"/);
});

it.run();
