/**
 * Enrollment against the real `fleetcert serve` process: an independent EST client made of
 * openssl + curl, idempotent retries, first-come binding, re-enrollment, manual approval.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateToPem, describeCertificate } from '#shared/pki/certificate.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { fleetcert } from '../helpers/cli.js';
import { deviceCsr, est } from '../helpers/est-client.js';
import { createToken, registrySnapshot, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { openssl, run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';

const ctx: { server?: FleetServer; dir?: string } = {};
const it = suite('est-enroll', ctx);
const PKCS10 = 'application/pkcs10';

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-est-'));
  ctx.server = await startServer(ctx.dir);
});
it.after(async () => {
  await ctx.server?.stop();
  await rm(ctx.dir!, { recursive: true, force: true });
});

const serialOf = (body: string) => describeCertificate(decodeCertsOnly(Buffer.from(body, 'base64'))[0]!).serialNumber;

it('an independent EST client (openssl req + curl + openssl pkcs7 + openssl verify) gets a certificate', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--id-pattern', 'rpi-*']);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'root.pem'), server.rootPem);
    const script = `
      set -euo pipefail
      cd "${dir}"
      curl -sS --fail --cacert root.pem https://localhost:${server.port}${EST_PATHS.cacerts} | base64 -d > cacerts.p7
      openssl pkcs7 -inform DER -in cacerts.p7 -print_certs > ca-bundle.pem
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout device.key \\
        -subj /CN=rpi-curl-0001 -outform DER 2>/dev/null | base64 > csr.b64
      curl -sS --fail --cacert root.pem -u "rpi-curl-0001:$TOKEN" -H 'Content-Type: ${PKCS10}' \\
        --data-binary @csr.b64 https://localhost:${server.port}${EST_PATHS.simpleEnroll} | base64 -d > issued.p7
      openssl pkcs7 -inform DER -in issued.p7 -print_certs > chain.pem
      openssl verify -purpose sslclient -CAfile root.pem -untrusted chain.pem chain.pem
      openssl x509 -in chain.pem -noout -subject
      diff <(openssl x509 -in chain.pem -noout -pubkey) <(openssl pkey -in device.key -pubout)
    `;
    const res = await run('bash', ['-c', script], { env: { ...process.env, TOKEN: token } });
    assert.is(res.code, 0, res.stderr + res.stdout);
    assert.match(res.stdout, 'chain.pem: OK');
    assert.match(res.stdout, /subject=CN ?= ?rpi-curl-0001/);
    const bundle = await readFile(join(dir, 'ca-bundle.pem'), 'utf8');
    assert.match(bundle, /subject=CN ?= ?fleetcert Issuing CA/);
    assert.match(bundle, /subject=CN ?= ?fleetcert Root CA/);
  });
});

it('the issued certificate: device profile, CN = id, 30 days, CA:FALSE even when the CSR asks for CA:TRUE', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir);
  await withTempDir(async (dir) => {
    const key = join(dir, 'k.pem');
    const csrFile = join(dir, 'csr.der');
    await openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-subj',
      '/CN=wants-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
      '-outform',
      'DER',
      '-out',
      csrFile,
    ]);
    const requested = await openssl(['req', '-in', csrFile, '-inform', 'DER', '-noout', '-text']);
    assert.match(requested, /CA:TRUE/, 'the CSR really asks for CA:TRUE');
    const res = await est(server, {
      path: EST_PATHS.simpleEnroll,
      token,
      contentType: PKCS10,
      body: (await readFile(csrFile)).toString('base64'),
    });
    assert.is(res.status, 200, res.body);
    assert.match(String(res.headers['content-type']), /application\/pkcs7-mime/);
    const [leaf, issuer] = decodeCertsOnly(Buffer.from(res.body, 'base64'));
    assert.is(describeCertificate(issuer!).subjectCommonName, 'fleetcert Issuing CA');
    const text = await openssl(['x509', '-noout', '-text'], certificateToPem(leaf!));
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature\s*\n/);
    assert.not.match(text, /Certificate Sign/);
    const info = describeCertificate(leaf!);
    assert.is(info.subjectCommonName, 'wants-ca');
    const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `lifetime ${days} days`);
  });
});

it('a retry with the same key returns the same certificate: no second serial, no second use', async () => {
  const server = ctx.server!;
  const { token, id } = await createToken(server.dataDir, ['--uses', '5']);
  const first = await deviceCsr('rpi-retry-1');
  const a = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: first.body });
  assert.is(a.status, 200, a.body);
  // A new CSR for the same key (ECDSA signatures differ each time): still the same device.
  const again = await deviceCsr('rpi-retry-1', first.keys);
  assert.is.not(again.body, first.body);
  const b = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: again.body });
  assert.is(b.status, 200, b.body);
  assert.is(serialOf(b.body), serialOf(a.body));
  const snap = registrySnapshot(server.dataDir);
  assert.is((snap.tokens as { id: string; uses: number }[]).find((t) => t.id === id)!.uses, 1);
  assert.is((snap.certificates as { device_id: string }[]).filter((c) => c.device_id === 'rpi-retry-1').length, 1);
});

it('first come binds the id: another key is id_taken (409) with the reset hint; after "device reset" it binds again', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir);
  assert.is(
    (await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: (await deviceCsr('rpi-bind-1')).body })).status,
    200,
  );
  const intruder = await est(server, {
    path: EST_PATHS.simpleEnroll,
    token,
    contentType: PKCS10,
    body: (await deviceCsr('rpi-bind-1')).body,
  });
  assert.is(intruder.status, 409);
  assert.is(intruder.json?.code, 'id_taken');
  assert.match(intruder.json?.message ?? '', /fleetcert device reset/);

  const reset = await fleetcert(['device', 'reset', 'rpi-bind-1', '--data-dir', server.dataDir]);
  assert.is(reset.code, 0, reset.stderr);
  const reflashed = await est(server, {
    path: EST_PATHS.simpleEnroll,
    token,
    contentType: PKCS10,
    body: (await deviceCsr('rpi-bind-1')).body,
  });
  assert.is(reflashed.status, 200, reflashed.body);
  const certs = (registrySnapshot(server.dataDir).certificates as { device_id: string; status: string }[]).filter(
    (c) => c.device_id === 'rpi-bind-1',
  );
  assert.equal(certs.map((c) => c.status).sort(), ['active', 'superseded']);
});

it('a token with --reenroll allow lets a known id enroll again with a new key', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--reenroll', 'allow']);
  const a = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: (await deviceCsr('rpi-again-1')).body });
  const b = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: (await deviceCsr('rpi-again-1')).body });
  assert.is(a.status, 200);
  assert.is(b.status, 200, b.body);
  assert.is.not(serialOf(a.body), serialOf(b.body));
  // Another token, even one allowing re-enrollment with no id pattern, cannot take that id over.
  const other = await createToken(server.dataDir, ['--reenroll', 'allow']);
  const taken = await est(server, {
    path: EST_PATHS.simpleEnroll,
    token: other.token,
    contentType: PKCS10,
    body: (await deviceCsr('rpi-again-1')).body,
  });
  assert.is(taken.status, 409, taken.body);
  assert.is(taken.json?.code, 'id_taken');
});

it('manual approval: 202 + Retry-After until "fleetcert device approve", then 200; labels reach the device', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--approval', 'manual', '--label', 'site=plant3']);
  const csr = await deviceCsr('rpi-manual-1');
  const waiting = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body });
  assert.is(waiting.status, 202);
  assert.is(waiting.headers['retry-after'], '60');
  assert.is(waiting.json?.code, 'pending_approval');
  const stillWaiting = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body });
  assert.is(stillWaiting.status, 202);

  const pending = JSON.parse((await fleetcert(['device', 'list', '--status', 'pending', '--json', '--data-dir', server.dataDir])).stdout);
  assert.equal(
    pending.devices.map((d: { id: string }) => d.id),
    ['rpi-manual-1'],
  );
  const approve = await fleetcert(['device', 'approve', 'rpi-manual-1', '--data-dir', server.dataDir]);
  assert.is(approve.code, 0, approve.stderr);
  const issued = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: csr.body });
  assert.is(issued.status, 200, issued.body);
  const shown = JSON.parse((await fleetcert(['device', 'show', 'rpi-manual-1', '--json', '--data-dir', server.dataDir])).stdout);
  assert.is(shown.device.status, 'active');
  assert.equal(shown.device.labels, { site: 'plant3' });
  assert.equal(
    shown.audit.map((a: { action: string }) => a.action),
    ['pending', 'approved', 'issued'],
  );
});

it('approval binds the key the operator saw: a different key after approval is refused (id_pending)', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir, ['--approval', 'manual']);
  assert.is(
    (await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: (await deviceCsr('rpi-manual-2')).body })).status,
    202,
  );
  assert.is((await fleetcert(['device', 'approve', 'rpi-manual-2', '--data-dir', server.dataDir])).code, 0);
  const other = await est(server, {
    path: EST_PATHS.simpleEnroll,
    token,
    contentType: PKCS10,
    body: (await deviceCsr('rpi-manual-2')).body,
  });
  assert.is(other.status, 409);
  assert.is(other.json?.code, 'id_pending');
});

it('device metadata from the header is stored; a malformed header is metadata_invalid', async () => {
  const server = ctx.server!;
  const { token } = await createToken(server.dataDir);
  const metadata = Buffer.from(
    JSON.stringify({ model: 'Raspberry Pi 4 Model B Rev 1.4', serial: '10000000abcdef01', agentVersion: '0.1.0' }),
  ).toString('base64url');
  const ok = await est(server, {
    path: EST_PATHS.simpleEnroll,
    token,
    contentType: PKCS10,
    body: (await deviceCsr('rpi-meta-1')).body,
    headers: { 'x-fleetcert-device': metadata },
  });
  assert.is(ok.status, 200, ok.body);
  const shown = JSON.parse((await fleetcert(['device', 'show', 'rpi-meta-1', '--json', '--data-dir', server.dataDir])).stdout);
  assert.is(shown.device.metadata.serial, '10000000abcdef01');
  const bad = Buffer.from(JSON.stringify({ model: 'x', evil: 'extra field' })).toString('base64url');
  const refused = await est(server, {
    path: EST_PATHS.simpleEnroll,
    token,
    contentType: PKCS10,
    body: (await deviceCsr('rpi-meta-2')).body,
    headers: { 'x-fleetcert-device': bad },
  });
  assert.is(refused.status, 400);
  assert.is(refused.json?.code, 'metadata_invalid');
});

it('concurrent enrollments never exceed --uses and never bind one id twice', async () => {
  const server = ctx.server!;
  const { token, id } = await createToken(server.dataDir, ['--uses', '5']);
  const csrs = await Promise.all(Array.from({ length: 12 }, (_, i) => deviceCsr(`rpi-race-${i}`)));
  const results = await Promise.all(
    csrs.map((c) => est(server, { path: EST_PATHS.simpleEnroll, token, contentType: PKCS10, body: c.body })),
  );
  const statuses = results.map((r) => r.status).sort();
  assert.equal(statuses, [200, 200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403]);
  assert.ok(results.filter((r) => r.status === 403).every((r) => r.json?.code === 'token_exhausted'));
  assert.is((registrySnapshot(server.dataDir).tokens as { id: string; uses: number }[]).find((t) => t.id === id)!.uses, 5);

  const { token: open } = await createToken(server.dataDir);
  const same = await Promise.all([deviceCsr('rpi-race-same'), deviceCsr('rpi-race-same'), deviceCsr('rpi-race-same')]);
  const raced = await Promise.all(
    same.map((c) => est(server, { path: EST_PATHS.simpleEnroll, token: open, contentType: PKCS10, body: c.body })),
  );
  assert.equal(raced.map((r) => r.status).sort(), [200, 409, 409]);
});

it.run();
