import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAuthority } from '../../../../server/authority/authority.js';
import { PeculiarCrlSigner } from '../../../../server/authority/peculiar-crl-signer.js';
import { loadBrokerLink } from '../../../../server/config/broker-settings.js';
import { dataLayout } from '../../../../server/config/data-layout.js';
import { brokerFiles } from '../../../../server/mosquitto/broker-files.js';
import { openSqliteRegistry } from '../../../../server/registry/sqlite-registry.js';
import { CrlRefresher } from '../../../../server/revocation/crl-refresher.js';
import { publishCrl } from '../../../../server/revocation/publish-crl.js';
import { silentLogger } from '../../../../shared/log/logger.js';
import { parseCrl } from '../../../../shared/pki/crl.js';
import { generateKeyPair } from '../../../../shared/pki/key-pair.js';
import { fleetcert } from '../../../helpers/cli.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { initDataDir } from '../../../helpers/fleet-server.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

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
    const refresher = new CrlRefresher({ registry, authority, broker, log: silentLogger, now: () => now });
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

test.run();
