import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAuthority } from '#server/authority/authority.js';
import type { CrlSigner } from '#server/authority/crl-signer.js';
import { PeculiarCrlSigner } from '#server/authority/peculiar-crl-signer.js';
import { loadBrokerLink } from '#server/config/broker-settings.js';
import { dataLayout } from '#server/config/data-layout.js';
import { brokerFiles } from '#server/mosquitto/broker-files.js';
import { expectationOf } from '#server/registry/records.js';
import { openSqliteRegistry } from '#server/registry/sqlite-registry.js';
import { CrlPublisher } from '#server/revocation/crl-publisher.js';
import { CrlRefresher } from '#server/revocation/crl-refresher.js';
import { publishCrl } from '#server/revocation/publish-crl.js';
import { silentLogger } from '#shared/log/logger.js';
import { parseCrl } from '#shared/pki/crl.js';
import { generateKeyPair } from '#shared/pki/key-pair.js';
import { fleetcert } from '../../../helpers/cli.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { initDataDir } from '../../../helpers/fleet-server.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { token } from '../registry/registry-suite.js';

async function setup(dir: string) {
  const { dataDir, passphraseFile } = await initDataDir(dir);
  const res = await fleetcert([
    'broker-config',
    '--data-dir',
    dataDir,
    '--passphrase-file',
    passphraseFile,
    '--out',
    join(dir, 'broker'),
    '--crl-validity',
    '7d',
  ]);
  assert.is(res.code, 0, res.stderr);
  const layout = dataLayout(dataDir);
  const authority = await loadAuthority(layout, (await readFile(passphraseFile, 'utf8')).trim());
  const broker = (await loadBrokerLink(layout.brokerSettings, layout.brokerAdminSecret))!;
  return { layout, authority, broker, crlFile: brokerFiles(join(dir, 'broker')).crlfile };
}

test('a CRL that does not verify is never installed: the old one stays', async () => {
  await withTempDir(async (dir) => {
    const { layout, authority, crlFile } = await setup(dir);
    const before = await readFile(crlFile, 'utf8');
    const registry = await openSqliteRegistry(layout.registry);
    try {
      const wrongKey = new PeculiarCrlSigner({ certificate: authority.issuer.certificate, keys: await generateKeyPair() });
      await expectCode(
        () => publishCrl({ registry, signer: wrongKey, crlFile, owner: { gid: undefined }, now: new Date(), validitySeconds: 3600 }),
        'crl_invalid',
      );
    } finally {
      await registry.close();
    }
    assert.is(await readFile(crlFile, 'utf8'), before);
  });
});

test('the refresher republishes only past half the validity, with a higher CRL number', async () => {
  await withTempDir(async (dir) => {
    const { layout, authority, broker, crlFile } = await setup(dir);
    const registry = await openSqliteRegistry(layout.registry);
    const day = 86_400_000;
    let now = new Date(Date.now() + 3 * day); // 4 of 7 days left
    const publisher = new CrlPublisher({ registry, authority, broker, log: silentLogger, batchMs: 1000, now: () => now });
    const refresher = new CrlRefresher({ publisher, broker, log: silentLogger, now: () => now });
    try {
      const first = await parseCrl(await readFile(crlFile, 'utf8'));
      assert.is(await refresher.checkNow(), false);
      now = new Date(Date.now() + 4 * day); // 3 of 7 days left
      assert.is(await refresher.checkNow(), true);
      const second = await parseCrl(await readFile(crlFile, 'utf8'), authority.issuer.certificate);
      assert.ok(second.crlNumber! > first.crlNumber!);
      assert.is(second.nextUpdate!.getTime(), Math.floor(now.getTime() / 1000) * 1000 + 7 * day);
      assert.is(await refresher.checkNow(), false, 'fresh again');
    } finally {
      refresher.stop();
      await registry.close();
    }
  });
});

test('a revocation committed while the CRL is being signed is not lost: the publication signs again', async () => {
  await withTempDir(async (dir) => {
    const { layout, authority, crlFile } = await setup(dir);
    const registry = await openSqliteRegistry(layout.registry);
    const now = new Date();
    try {
      await registry.createToken({ ...token('t1', null), createdAt: now }, null);
      for (const [id, serial] of [
        ['dev-1', '0a01'],
        ['dev-2', '0a02'],
      ] as const) {
        await registry.recordIssued({
          deviceId: id,
          expected: expectationOf(undefined, undefined),
          tokenId: 't1',
          labels: {},
          metadata: undefined,
          countTokenUse: true,
          action: 'issued',
          source: 'test',
          now,
          certificate: { serial, keySha256: `k-${serial}`, notBefore: now, notAfter: new Date(now.getTime() + 86_400_000), pem: 'pem' },
        });
      }
      await registry.revokeDevice('dev-1', 'unspecified', now, 'test');
      // Another process (the CLI's device revoke) commits while this publication signs.
      let signs = 0;
      const signer: CrlSigner = {
        certificate: authority.crlSigner.certificate,
        sign: async (request) => {
          signs += 1;
          if (signs === 1) await registry.revokeDevice('dev-2', 'keyCompromise', now, 'other process');
          return authority.crlSigner.sign(request);
        },
      };
      const published = await publishCrl({ registry, signer, crlFile, owner: { gid: undefined }, now, validitySeconds: 3600 });
      assert.is(published.entries, 2, 'the revocation committed meanwhile is in the installed CRL');
      assert.is(signs, 2, 'the install found the revoked set changed and signed again');
      const crl = await parseCrl(await readFile(crlFile, 'utf8'), authority.issuer.certificate);
      assert.equal(crl.entries.map((e) => e.serialNumber).sort(), ['0a01', '0a02']);
    } finally {
      await registry.close();
    }
  });
});

test('batched publications: a burst shares one CRL; the next batch waits the interval; publishNow never overlaps one', async () => {
  await withTempDir(async (dir) => {
    const { layout, authority, broker, crlFile } = await setup(dir);
    const registry = await openSqliteRegistry(layout.registry);
    const published: { why: string; at: number }[] = [];
    const info = (_m: string, f?: Record<string, unknown>) => void published.push({ why: String(f?.why), at: Date.now() });
    const log = { ...silentLogger, info };
    const publisher = new CrlPublisher({ registry, authority, broker, log, batchMs: 400 });
    try {
      const before = (await parseCrl(await readFile(crlFile, 'utf8'))).crlNumber!;
      const started = Date.now();
      for (let i = 0; i < 20; i += 1) publisher.publishSoon('superseded');
      await new Promise((r) => setTimeout(r, 250));
      assert.is(published.length, 1, 'twenty requests after a quiet period: one publication, at once');
      for (let i = 0; i < 20; i += 1) publisher.publishSoon('superseded');
      const [now] = await Promise.all([publisher.publishNow('keyCompromise'), new Promise((r) => setTimeout(r, 700))]);
      assert.equal(
        published.map((p) => p.why),
        ['superseded', 'keyCompromise', 'superseded'],
      );
      assert.ok(published[2]!.at - started >= 400, 'the second batch waited the interval');
      assert.ok(published[2]!.at - started < 400 + 600, 'and no longer than it (plus signing)');
      const after = await parseCrl(await readFile(crlFile, 'utf8'), authority.issuer.certificate);
      assert.ok(before < now.crlNumber && now.crlNumber < after.crlNumber!, 'CRL numbers increase in publication order');
    } finally {
      publisher.stop();
      await registry.close();
    }
  });
});

test.run();
