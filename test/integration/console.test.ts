/**
 * Issue 17: the console's security properties, each through the real `fleetcert serve
 * --console-listen` over HTTPS: who gets in (admin certificate, password; never a device
 * certificate), what a viewer may do, CSRF, escaping of hostile device data, headers and cookie
 * flags, /metrics behind authentication, and the first page's time with 10,000 devices.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConsoleClient, issueAdmin } from '../helpers/console-client.js';
import { enrollDevice } from '../helpers/est-client.js';
import { fleetcert } from '../helpers/cli.js';
import { auditRows, createToken, registrySnapshot, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const HOSTILE = '<img src=x onerror=alert(1)>';

async function withConsole(work: (server: FleetServer, dir: string) => Promise<void>, serveArgs: readonly string[] = []): Promise<void> {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--console-listen', '127.0.0.1:0', '--log-level', 'warn', ...serveArgs]);
    try {
      await work(server, dir);
    } finally {
      await server.stop();
    }
  });
}

const client = (server: FleetServer, identity = {}) => new ConsoleClient(server.consoleUrl!, server.rootPem, identity);

test('who gets in: an admin certificate does; a device certificate never does; nobody without one or a password', async () => {
  await withConsole(async (server, dir) => {
    const { token } = await createToken(server.dataDir);
    const device = await enrollDevice(server, token, 'rpi-1');
    const anonymous = await client(server).get('/');
    assert.is(anonymous.status, 303);
    assert.is(anonymous.headers.location, '/login');
    // A valid client certificate from the same CA, but a device's: the login form, not the console.
    const asDevice = await client(server, { cert: device.chainPem, key: device.keyPem }).get('/');
    assert.is(asDevice.status, 303);
    assert.is(asDevice.headers.location, '/login');
    assert.is((await client(server, { cert: device.chainPem, key: device.keyPem }).get('/metrics')).status, 401);

    const admin = await issueAdmin(server.dataDir, server.passphraseFile, dir, 'alice', 'operator');
    const alice = client(server, { pfx: admin.pfx, passphrase: admin.passphrase });
    const list = await alice.get('/');
    assert.is(list.status, 200);
    assert.match(list.body, /alice \(operator\)/);
    assert.match(list.body, />rpi-1</);
    assert.ok(
      auditRows(server.dataDir).some((a) => a.action === 'console_login'),
      'the login is audited',
    );
    // A scraper presents its certificate and keeps no cookie: no session, no login row per scrape.
    const rows = auditRows(server.dataDir).length;
    for (let i = 0; i < 3; i += 1) {
      const metrics = await client(server, { pfx: admin.pfx, passphrase: admin.passphrase }).get('/metrics');
      assert.is(metrics.status, 200);
      assert.match(metrics.body, /^fleetcert_devices\{status="active"\} 1$/m);
      assert.is(metrics.headers['set-cookie'], undefined);
    }
    assert.is(auditRows(server.dataDir).length, rows);

    // Removed: the certificate stops opening the console at once, even on a session it opened.
    const removed = await fleetcert(['admin', 'remove', 'alice', '--data-dir', server.dataDir]);
    assert.is(removed.code, 0, removed.stderr);
    assert.is((await alice.get('/')).status, 303);
    assert.is((await client(server, { pfx: admin.pfx, passphrase: admin.passphrase }).get('/metrics')).status, 401);
  });
});

test('a viewer sees but cannot act: 403, audited, nothing changed', async () => {
  await withConsole(async (server, dir) => {
    const { token } = await createToken(server.dataDir);
    await enrollDevice(server, token, 'rpi-1');
    const admin = await issueAdmin(server.dataDir, server.passphraseFile, dir, 'val', 'viewer');
    const viewer = client(server, { pfx: admin.pfx, passphrase: admin.passphrase });
    const page = await viewer.get('/devices/rpi-1');
    assert.is(page.status, 200);
    assert.not.match(page.body, /action="\/devices\/rpi-1\/revoke"/, 'a viewer is offered no action');
    const before = registrySnapshot(server.dataDir);
    const refused = await viewer.post('/devices/rpi-1/revoke', { csrf: ConsoleClient.csrf(page), confirm: 'rpi-1', reason: 'unspecified' });
    assert.is(refused.status, 403);
    assert.equal(registrySnapshot(server.dataDir), before);
    assert.ok(auditRows(server.dataDir).some((a) => a.action === 'console_refused' && a.code === 'forbidden'));
  });
});

test("CSRF: a form without the token, or with another session's, is refused and changes nothing; with it the action runs", async () => {
  await withConsole(async (server, dir) => {
    const { token } = await createToken(server.dataDir);
    await enrollDevice(server, token, 'rpi-1');
    const admin = await issueAdmin(server.dataDir, server.passphraseFile, dir, 'alice', 'operator');
    const alice = client(server, { pfx: admin.pfx, passphrase: admin.passphrase });
    const other = client(server, { pfx: admin.pfx, passphrase: admin.passphrase });
    const mine = ConsoleClient.csrf(await alice.get('/devices/rpi-1'));
    const theirs = ConsoleClient.csrf(await other.get('/devices/rpi-1'));
    assert.is.not(mine, theirs);
    const before = registrySnapshot(server.dataDir);
    for (const csrf of [undefined, '', theirs, mine.slice(1)]) {
      const form: Record<string, string> = { confirm: 'rpi-1', reason: 'keyCompromise', ...(csrf === undefined ? {} : { csrf }) };
      assert.is((await alice.post('/devices/rpi-1/revoke', form)).status, 403, `csrf ${JSON.stringify(csrf)}`);
    }
    // With the right token, a browser that says the form came from another site is refused too (Fetch Metadata).
    const crossSite = await alice.post(
      '/devices/rpi-1/revoke',
      { csrf: mine, confirm: 'rpi-1', reason: 'keyCompromise' },
      {
        'sec-fetch-site': 'cross-site',
      },
    );
    assert.is(crossSite.status, 403);
    assert.equal(registrySnapshot(server.dataDir), before);
    // A confirmation that does not name the device is refused too.
    assert.is((await alice.post('/devices/rpi-1/revoke', { csrf: mine, confirm: 'rpi-2', reason: 'keyCompromise' })).status, 400);
    const done = await alice.post('/devices/rpi-1/revoke', { csrf: mine, confirm: 'rpi-1', reason: 'keyCompromise' });
    assert.is(done.status, 303);
    const devices = registrySnapshot(server.dataDir).devices as { id: string; status: string }[];
    assert.is(devices.find((d) => d.id === 'rpi-1')!.status, 'revoked');
    const revoked = auditRows(server.dataDir).find((a) => a.action === 'revoked');
    assert.ok(revoked, 'audited');
    const db = new Database(join(server.dataDir, 'registry.sqlite3'), { readonly: true });
    assert.is((db.prepare("SELECT source FROM audit WHERE action = 'revoked'").get() as { source: string }).source, 'console:alice');
    db.close();
  });
});

test('hostile device data and search text render as text; strict CSP, no-store, secure cookie flags', async () => {
  await withConsole(async (server, dir) => {
    const { token } = await createToken(server.dataDir, ['--label', `note=${HOSTILE}`]);
    await enrollDevice(server, token, 'rpi-1');
    const admin = await issueAdmin(server.dataDir, server.passphraseFile, dir, 'alice', 'viewer');
    const alice = client(server, { pfx: admin.pfx, passphrase: admin.passphrase });
    for (const path of ['/', '/devices/rpi-1', `/?q=${encodeURIComponent('"><script>alert(1)</script>')}`, '/audit?device=%22%3E%3Cb%3E']) {
      const page = await alice.get(path);
      assert.is(page.status, 200, path);
      assert.not.match(page.body, /<img src=x|<script|"><b>/, `${path} renders hostile text as markup`);
      assert.not.match(page.body, /<script/i, 'no script at all');
      const csp = String(page.headers['content-security-policy']);
      for (const directive of ["default-src 'self'", "script-src 'none'", "frame-ancestors 'none'", "form-action 'self'"]) {
        assert.ok(csp.includes(directive), `${path}: CSP ${directive}`);
      }
      assert.is(page.headers['cache-control'], 'no-store');
    }
    assert.match((await alice.get('/')).body, /&lt;img src=x onerror=alert\(1\)&gt;/);
    const cookie = String((await client(server, { pfx: admin.pfx, passphrase: admin.passphrase }).get('/')).headers['set-cookie']);
    assert.match(cookie, /^__Host-fleetcert-session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
  });
});

test('password login: wrong password 401 and audited; the right one opens a new session; logout ends it', async () => {
  await withConsole(async (server, dir) => {
    const passwordFile = join(dir, 'pw');
    await writeFile(passwordFile, 'correct horse battery staple\n');
    const set = await fleetcert([
      'admin',
      'passwd',
      'bob',
      '--role',
      'operator',
      '--password-file',
      passwordFile,
      '--data-dir',
      server.dataDir,
    ]);
    assert.is(set.code, 0, set.stderr);
    const bob = client(server);
    const form = await bob.get('/login');
    assert.is(form.status, 200);
    const visitorCookie = bob.cookie;
    const csrf = ConsoleClient.csrf(form);
    assert.is((await bob.post('/login', { csrf, name: 'bob', password: 'wrong password here' })).status, 401);
    assert.is((await bob.post('/login', { csrf, name: 'nobody', password: 'correct horse battery staple' })).status, 401);
    assert.is(
      (await bob.post('/login', { name: 'bob', password: 'correct horse battery staple' })).status,
      403,
      'login form needs its token',
    );
    assert.is(auditRows(server.dataDir).filter((a) => a.action === 'console_refused' && a.code === 'login_failed').length, 2);
    const ok = await bob.post('/login', { csrf, name: 'bob', password: 'correct horse battery staple' });
    assert.is(ok.status, 303);
    assert.ok(bob.cookie && bob.cookie !== visitorCookie, 'a new session id at login');
    const home = await bob.get('/');
    assert.is(home.status, 200);
    assert.match(home.body, /bob \(operator\)/);
    assert.is((await bob.post('/logout', { csrf: ConsoleClient.csrf(home) })).status, 303);
    assert.is((await bob.get('/')).status, 303, 'logged out');
  });
});

test('operator actions: a created token is downloaded once; token revoke, renew now, reset audited as console:<admin>', async () => {
  await withConsole(async (server, dir) => {
    const { token } = await createToken(server.dataDir);
    await enrollDevice(server, token, 'rpi-1');
    const admin = await issueAdmin(server.dataDir, server.passphraseFile, dir, 'alice', 'operator');
    const alice = client(server, { pfx: admin.pfx, passphrase: admin.passphrase });
    const csrf = ConsoleClient.csrf(await alice.get('/tokens'));
    const created = await alice.post('/tokens', {
      csrf,
      name: 'line-2',
      uses: '5',
      expires: '7d',
      approval: 'auto',
      reenroll: 'deny',
      idPattern: 'rpi-*',
      labels: 'site=plant3, line=2',
    });
    assert.is(created.status, 200);
    assert.match(String(created.headers['content-disposition']), /^attachment; filename="fleetcert.json"$/);
    const bootstrap = JSON.parse(created.body) as { token: string; caFingerprint: string };
    assert.match(bootstrap.token, /^fct_/);
    const tokens = await alice.get('/tokens');
    assert.match(tokens.body, /line-2/);
    assert.not.ok(tokens.body.includes(bootstrap.token.split('_')[2]!), 'the secret is never shown again');
    const tokenId = bootstrap.token.split('_')[1]!;
    // The new token enrolls a device (it is a real token), then is revoked from the console.
    await enrollDevice(server, bootstrap.token, 'rpi-2');
    assert.match((await alice.get('/devices/rpi-2')).body, /site=plant3, line=2/, 'the token gives its labels');
    assert.is((await alice.post(`/tokens/${tokenId}/revoke`, { csrf })).status, 303);
    const refused = await enrollDevice(server, bootstrap.token, 'rpi-3').then(
      () => 'enrolled',
      (e: Error) => e.message,
    );
    assert.match(refused, /token_revoked/);
    assert.is((await alice.post('/devices/rpi-1/renew', { csrf, reason: 'rotation' })).status, 303);
    assert.is((await alice.post('/devices/rpi-1/reset', { csrf, confirm: 'rpi-1' })).status, 303);
    const db = new Database(join(server.dataDir, 'registry.sqlite3'), { readonly: true });
    const rows = db.prepare("SELECT action, source FROM audit WHERE source LIKE 'console:%' ORDER BY seq").all() as {
      action: string;
      source: string;
    }[];
    db.close();
    assert.equal(
      rows.filter((r) => r.action !== 'console_login').map((r) => `${r.action} ${r.source}`),
      ['token_created console:alice', 'token_revoked console:alice', 'renew_requested console:alice', 'reset console:alice'],
    );
  });
});

test('no device can obtain an admin subject: a CSR for CN admin:<name> is refused', async () => {
  await withConsole(async (server) => {
    const { token } = await createToken(server.dataDir);
    const refused = await enrollDevice(server, token, 'admin:alice').then(
      () => 'enrolled',
      (e: Error) => e.message,
    );
    assert.match(refused, /400 .*id_invalid/);
  });
});

test('password guessing: after 10 failures from one address, 429 with Retry-After, even for the right password', async () => {
  await withConsole(async (server, dir) => {
    const passwordFile = join(dir, 'pw');
    await writeFile(passwordFile, 'correct horse battery staple\n');
    assert.is((await fleetcert(['admin', 'passwd', 'bob', '--password-file', passwordFile, '--data-dir', server.dataDir])).code, 0);
    const guesser = client(server);
    const csrf = ConsoleClient.csrf(await guesser.get('/login'));
    for (let i = 0; i < 10; i += 1)
      assert.is((await guesser.post('/login', { csrf, name: 'bob', password: `guess number ${i}` })).status, 401);
    const limited = await guesser.post('/login', { csrf, name: 'bob', password: 'correct horse battery staple' });
    assert.is(limited.status, 429);
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
  });
});

test('/metrics counts what the EST endpoint refused for load, and the refusals the audit log holds', async () => {
  await withConsole(
    async (server, dir) => {
      const { token } = await createToken(server.dataDir);
      const wrong = `${token.slice(0, -4)}AAAA`;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        statuses.push(
          await enrollDevice(server, wrong, `guess-${i}`).then(
            () => 200,
            (e: Error) => Number(/failed: (\d+)/.exec(e.message)?.[1]),
          ),
        );
      }
      assert.equal(statuses, [401, 429, 429]);
      const admin = await issueAdmin(server.dataDir, server.passphraseFile, dir, 'noc', 'viewer');
      const metrics = (await client(server, { pfx: admin.pfx, passphrase: admin.passphrase }).get('/metrics')).body;
      assert.match(metrics, /^fleetcert_load_refused_requests_total\{code="rate_limited"\} 2$/m);
      assert.match(metrics, /^fleetcert_enrollment_outcomes_total\{action="refused",code="token_invalid"\} 1$/m);
    },
    ['--max-auth-failures', '1'],
  );
});

test('10,000 devices: the first page answers in < 200 ms (fresh TLS connection each time)', async () => {
  await withConsole(async (server, dir) => {
    seedDevices(server.dataDir, 10_000);
    const admin = await issueAdmin(server.dataDir, server.passphraseFile, dir, 'alice', 'viewer');
    const alice = client(server, { pfx: admin.pfx, passphrase: admin.passphrase });
    await alice.get('/'); // warm: templates compiled, statements prepared
    const timings: Record<string, number> = {};
    for (const path of ['/', '/?sort=expires', '/?sort=last_seen&desc=1', '/?q=dev-99', '/?page=200', '/health']) {
      const runs: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const started = performance.now();
        const page = await alice.get(path);
        runs.push(performance.now() - started);
        assert.is(page.status, 200, path);
      }
      timings[path] = Math.round(runs.sort((a, b) => a - b)[2]! * 10) / 10;
    }
    console.log(`console with 10,000 devices, median ms: ${JSON.stringify(timings)}`);
    assert.match((await alice.get('/')).body, /Devices <small>10000<\/small>/);
    // The audit log pages by sequence number: the next page holds only older rows.
    const newest = await alice.get('/audit?action=issued');
    const older = /href="(\/audit\?action=issued&amp;before=(\d+))"/.exec(newest.body);
    assert.ok(older, 'a link to older rows');
    const next = await alice.get(older[1]!.replaceAll('&amp;', '&'));
    const seqs = [...next.body.matchAll(/<tr>\s*<td>(\d+)<\/td>/g)].map((m) => Number(m[1]));
    assert.is(seqs.length, 100);
    assert.ok(seqs.every((seq) => seq < Number(older[2])));
    assert.ok(timings['/']! < 200, `first page took ${timings['/']} ms`);
    assert.ok(timings['/?sort=expires']! < 200, `sorted by expiry took ${timings['/?sort=expires']} ms`);
  });
});

/** Test fixture only: devices and their certificates written straight into the registry file, as 10,000 enrollments would leave them. */
function seedDevices(dataDir: string, count: number): void {
  const db = new Database(join(dataDir, 'registry.sqlite3'));
  const now = Date.now();
  const device = db.prepare(
    `INSERT INTO devices (id, status, token_id, labels, metadata, first_seen, last_seen, updated_at, reported_state, reported_at)
     VALUES (?, 'active', NULL, '{"site":"plant3"}', '{"model":"Raspberry Pi 4 Model B"}', ?, ?, ?, ?, ?)`,
  );
  const certificate = db.prepare(
    `INSERT INTO certificates (serial, device_id, key_sha256, not_before, not_after, status, issued_at, pem)
     VALUES (?, ?, ?, ?, ?, 'active', ?, 'PEM')`,
  );
  const audit = db.prepare("INSERT INTO audit (at, action, device_id, source) VALUES (?, 'issued', ?, '127.0.0.1')");
  db.transaction(() => {
    for (let i = 0; i < count; i += 1) {
      if (i < 250) audit.run(now, `dev-${String(i).padStart(5, '0')}`);
      const id = `dev-${String(i).padStart(5, '0')}`;
      const seen = now - (i % 500) * 60_000;
      device.run(id, now - 86_400_000, seen, seen, i % 3 === 0 ? 'offline' : 'online', seen);
      certificate.run(i.toString(16).padStart(32, '0'), id, 'k'.repeat(64), now - 86_400_000, now + (i % 30) * 86_400_000 + 3_600_000, now);
    }
  })();
  db.close();
}

test.run();
