/**
 * Issue 15 item 3: a saturated server answers 503 server_busy with Retry-After at once instead of
 * letting requests queue into timeouts, and nothing is lost: a burst far beyond
 * --max-pending-enrollments all enrolls in the end when clients honour Retry-After (with the
 * agent's jitter), every device once, with the certificate it was told about.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCertificate } from '#shared/pki/certificate.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { retryAfterWithJitter } from '#shared/retry/backoff.js';
import { deviceCsr, est } from '../helpers/est-client.js';
import { createToken, startServer } from '../helpers/fleet-server.js';
import { eventsIn } from '../helpers/agent-process.js';
import { boardRoot } from '../helpers/boards.js';
import { fleetcert, fleetcertAgent } from '../helpers/cli.js';
import { rawHttps } from '../helpers/raw-https.js';
import { withTempDir } from '../helpers/temp-dir.js';

test('a burst beyond --max-pending-enrollments: 503 server_busy + Retry-After at once, then every device enrolls, once', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--max-pending-enrollments', '2', '--log-level', 'warn']);
    try {
      const { token } = await createToken(server.dataDir, ['--uses', '1000']);
      const auth = `Basic ${Buffer.from(`d:${token}`).toString('base64')}`;
      // Two slow devices hold both slots: headers now, their CSR 1.5 s later.
      const slow = await Promise.all(['slow-0', 'slow-1'].map((id) => deviceCsr(id)));
      const held = slow.map((csr) =>
        rawHttps(server, {
          parts: [
            `POST ${EST_PATHS.simpleEnroll} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${auth}\r\n` +
              `Content-Type: application/pkcs10\r\nContent-Length: ${csr.body.length}\r\n\r\n`,
            1500,
            csr.body,
          ],
        }),
      );
      await new Promise((r) => setTimeout(r, 300));
      const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => deviceCsr(`burst-${i}`)));
      const started = Date.now();
      const first = await Promise.all(
        burst.map((csr) => est(server, { path: EST_PATHS.simpleEnroll, token, contentType: 'application/pkcs10', body: csr.body })),
      );
      assert.ok(Date.now() - started < 1400, 'refused at once, not after queueing');
      assert.is(first.filter((r) => r.status === 503).length, 30, first.map((r) => r.status).join(','));
      for (const r of first) {
        assert.is(r.json?.code, 'server_busy');
        assert.is(r.headers['retry-after'], '2');
      }
      assert.equal(
        (await Promise.all(held)).map((r) => r.status),
        [200, 200],
        'the two in progress complete',
      );

      // Every busy device comes back as the agent would: Retry-After plus jitter, until it is served.
      const serials = new Map<string, string>();
      await Promise.all(
        burst.map(async (csr, i) => {
          for (let attempt = 0; attempt < 20; attempt += 1) {
            const r = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: 'application/pkcs10', body: csr.body });
            if (r.status === 200) {
              serials.set(`burst-${i}`, describeCertificate(decodeCertsOnly(Buffer.from(r.body, 'base64'))[0]!).serialNumber);
              return;
            }
            assert.is(r.json?.code, 'server_busy', r.body);
            const seconds = retryAfterWithJitter(Number(r.headers['retry-after']));
            await new Promise((resolve) => setTimeout(resolve, seconds * 100)); // the agent's wait, at 1/10 of the time
          }
          assert.unreachable(`burst-${i} never enrolled`);
        }),
      );
      assert.is(serials.size, 30);
      const listed = await fleetcert(['device', 'list', '--json', '--data-dir', server.dataDir]);
      const devices = (JSON.parse(listed.stdout) as { devices: { id: string; serial?: string }[] }).devices;
      assert.is(devices.length, 32, 'every device once, nothing lost');
    } finally {
      await server.stop();
    }
  });
});

test('the real agent told server_busy waits Retry-After plus jitter, then enrolls', async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--max-pending-enrollments', '1', '--log-level', 'warn']);
    try {
      const boot = join(dir, 'fleetcert.json');
      const created = await fleetcert([
        'token',
        'create',
        '--data-dir',
        server.dataDir,
        '--name',
        'busy',
        '--uses',
        '5',
        '--out',
        boot,
        '--enroll-url',
        `https://localhost:${server.port}`,
      ]);
      assert.is(created.code, 0, created.stderr);
      const token = (JSON.parse(await readFile(boot, 'utf8')) as { token: string }).token;
      // One slow device holds the only slot for 2 s: the agent's first attempt finds the server busy.
      const csr = await deviceCsr('slow-holder');
      const basic = `Basic ${Buffer.from(`d:${token}`).toString('base64')}`;
      const held = rawHttps(server, {
        parts: [
          `POST ${EST_PATHS.simpleEnroll} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basic}\r\n` +
            `Content-Type: application/pkcs10\r\nContent-Length: ${csr.body.length}\r\n\r\n`,
          2000,
          csr.body,
        ],
      });
      await new Promise((r) => setTimeout(r, 300));
      const agent = await fleetcertAgent([
        'enroll',
        '--state-dir',
        join(dir, 'state'),
        '--bootstrap',
        boot,
        '--broker',
        '127.0.0.1:1',
        '--broker-servername',
        'localhost',
        '--identity-root',
        boardRoot('rpi4-bookworm-arm64'),
        '--id-template',
        'busy-{serial}',
      ]);
      assert.is(agent.code, 0, agent.stderr);
      assert.is((await held).status, 200);
      assert.is(eventsIn(agent.stderr, 'enrollment_refused', { code: 'server_busy' }).length, 1, agent.stderr);
      const retry = eventsIn(agent.stderr, 'enrollment_retry', { why: 'refused (server_busy)' });
      assert.is(retry.length, 1, agent.stderr);
      const delay = retry[0]!.delaySeconds as number;
      assert.ok(delay >= 2 && delay <= 3, `waited ${delay} s for Retry-After 2 (+ up to 50%)`);
      assert.is(eventsIn(agent.stderr, 'certificate_installed').length, 1);
    } finally {
      await server.stop();
    }
  });
});

test('Retry-After is honoured, never earlier, and spread by up to half of it', () => {
  assert.is(
    retryAfterWithJitter(2, () => 0),
    2,
  );
  assert.is(
    retryAfterWithJitter(2, () => 0.999999),
    2 * (1 + 0.5 * 0.999999),
  );
  const spread = new Set(Array.from({ length: 100 }, () => retryAfterWithJitter(10)));
  assert.ok([...spread].every((s) => s >= 10 && s < 15));
  assert.ok(spread.size > 90, 'devices told the same Retry-After do not come back together');
});

test.run();
