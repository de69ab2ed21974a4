/**
 * Every certificate carries a CRL distribution point (issue 16 item 4), with no CRL flag given:
 * a plain `fleetcert serve` names `http://<broker host>:<EST port>/crl/issuing-ca.crl` and serves
 * the current CRL there over plain HTTP, on the EST port itself. curl and openssl read it as a
 * broker host would, and `fleetcert crl sync` installs it from that URL.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetcert } from '../helpers/cli.js';
import { enrollDevice } from '../helpers/est-client.js';
import { createToken, initDataDir, startServer, waitForEvent, type FleetServer } from '../helpers/fleet-server.js';
import { freePort } from '../helpers/ports.js';

const ctx = {} as { dir: string; out: string; server: FleetServer; url: string };
const it = suite('CRL distribution point on the EST port');

it.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-cdp-'));
  const { dataDir, passphraseFile } = await initDataDir(ctx.dir);
  ctx.out = join(ctx.dir, 'broker');
  const config = await fleetcert([
    'broker-config',
    '--data-dir',
    dataDir,
    '--passphrase-file',
    passphraseFile,
    '--out',
    ctx.out,
    '--port',
    String(await freePort()),
    '--bind',
    '127.0.0.1',
    '--admin-port',
    String(await freePort()),
    '--host',
    'localhost',
    '--reload-pid-file',
    join(ctx.dir, 'no-broker.pid'),
  ]);
  assert.is(config.code, 0, config.stderr);
  ctx.server = await startServer(ctx.dir, [], { dataDir, passphraseFile });
  ctx.url = String((await waitForEvent(ctx.server, 'crl_distribution_point')).url);
});

it.after(async () => {
  await ctx.server?.stop();
  await rm(ctx.dir, { recursive: true, force: true });
});

it('a device certificate from a serve without CRL flags names the EST port as its distribution point', async () => {
  assert.is(ctx.url, `http://localhost:${ctx.server.port}/crl/issuing-ca.crl`);
  const { token } = await createToken(ctx.server.dataDir);
  const device = await enrollDevice(ctx.server, token, 'cdp-device');
  const leaf = device.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
  const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: leaf }).toString();
  assert.match(text, /X509v3 CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:(\S+)/);
  assert.is(/URI:(\S+)/.exec(text.slice(text.indexOf('CRL Distribution Points')))![1], ctx.url);
});

it('curl gets the CRL over plain HTTP on the EST port, with caching headers; openssl parses it', async () => {
  const url = ctx.url.replace('localhost', '127.0.0.1');
  const body = join(ctx.dir, 'crl.der');
  const headers = execFileSync('curl', ['-sS', '--max-time', '10', '-D', '-', '-o', body, url]).toString();
  assert.match(headers, /^HTTP\/1\.1 200/);
  assert.match(headers, /content-type: application\/pkix-crl/i);
  assert.match(headers, /etag: "\d+"/i);
  assert.match(headers, /last-modified: /i);
  assert.match(headers, /expires: /i);
  assert.match(headers, /cache-control: public, max-age=\d+/i);
  const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', body, '-noout', '-text']).toString();
  assert.match(text, /Certificate Revocation List \(CRL\):/);
  assert.match(text, /X509v3 CRL Number:/);
  const head = execFileSync('curl', ['-sS', '--max-time', '10', '-I', url]).toString();
  assert.match(head, /^HTTP\/1\.1 200/);
});

it('fleetcert crl sync installs the CRL from the distribution point that the certificate names', async () => {
  const out = join(ctx.dir, 'synced-crl.pem');
  const url = ctx.url.replace('localhost', '127.0.0.1');
  const res = await fleetcert(['crl', 'sync', '--url', url, '--out', out, '--ca', join(ctx.out, 'ca.pem'), '--json'], {
    timeoutMs: 60_000,
  });
  assert.is(res.code, 0, res.stderr);
  const outcome = JSON.parse(res.stdout) as { changed: boolean; crlNumber: number };
  assert.is(outcome.changed, true);
  assert.match(await readFile(out, 'utf8'), /^-----BEGIN X509 CRL-----/);
});

it('without a broker the certificates name the distribution point too; it answers 503 until a CRL is published', async () => {
  await mkdir(join(ctx.dir, 'alone'));
  const alone = await startServer(join(ctx.dir, 'alone'));
  try {
    const url = String((await waitForEvent(alone, 'crl_distribution_point')).url);
    assert.match(url, new RegExp(`^http://[^/]+\\.local:${alone.port}/crl/issuing-ca\\.crl$`));
    const { token } = await createToken(alone.dataDir);
    const device = await enrollDevice(alone, token, 'alone-device');
    const leaf = device.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    assert.ok(execFileSync('openssl', ['x509', '-noout', '-text'], { input: leaf }).toString().includes(`URI:${url}`));
    const res = await fetch(`http://127.0.0.1:${alone.port}/crl/issuing-ca.crl`);
    assert.is(res.status, 503);
    assert.is(res.headers.get('retry-after'), '60');
  } finally {
    await alone.stop();
  }
});

it.run();
