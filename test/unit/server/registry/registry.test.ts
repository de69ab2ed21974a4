import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expectationOf, Registry, type TokenRecord } from '../../../../server/registry/registry.js';
import { FleetcertError } from '../../../../shared/errors.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const now = new Date('2026-06-01T00:00:00Z');
const token = (id: string, maxUses: number | null): TokenRecord => ({
  id, name: id, secretHash: Buffer.alloc(32, 1), createdAt: now, expiresAt: null, maxUses, uses: 0, idPattern: null,
  labels: { site: 'a' }, approval: 'auto', reenroll: 'deny', revokedAt: null,
});
const issue = (registry: Registry, deviceId: string, serial: string, tokenId: string) =>
  registry.recordIssued({
    deviceId, expected: expectationOf(registry.getDevice(deviceId), registry.activeCertificate(deviceId)), tokenId, labels: {}, metadata: undefined, countTokenUse: true, action: 'issued', source: 'test', now,
    certificate: { serial, keySha256: 'k', notBefore: now, notAfter: new Date(now.getTime() + 1000), pem: 'pem' },
  });

test('migrates a new file to the current schema, WAL, and reopens without re-running migrations', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    Registry.open(file).close();
    const db = new Database(file, { readonly: true });
    assert.is(db.pragma('user_version', { simple: true }), 4);
    assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    const again = Registry.open(file);
    again.createToken(token('t1', null), null);
    again.close();
    assert.is(Registry.open(file).listTokens().length, 1);
  });
});

test('an exhausted token rolls the whole issuance back: no device, no certificate, no audit row', async () => {
  await withTempDir(async (dir) => {
    const registry = Registry.open(join(dir, 'r.sqlite3'));
    registry.createToken(token('t1', 1), null);
    issue(registry, 'dev-1', '01', 't1');
    const auditBefore = registry.listAudit().length;
    let code: string | undefined;
    try {
      issue(registry, 'dev-2', '02', 't1');
    } catch (err) {
      code = (err as FleetcertError).code;
    }
    assert.is(code, 'token_exhausted');
    assert.is(registry.getDevice('dev-2'), undefined);
    assert.is(registry.getCertificate('02'), undefined);
    assert.is(registry.listAudit().length, auditBefore);
    assert.is(registry.getToken('t1')!.uses, 1);
    registry.close();
  });
});

test('the audit log is append-only, even to someone with the file', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    const registry = Registry.open(file);
    registry.createToken(token('t1', null), 'cli:root');
    registry.close();
    const db = new Database(file);
    assert.throws(() => db.prepare("UPDATE audit SET action = 'x'").run(), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit').run(), /append-only/);
    db.close();
  });
});

test('renew-now marks the current unexpired certificate of each device, audited; expired and unknown ones are skipped', async () => {
  await withTempDir(async (dir) => {
    const registry = Registry.open(join(dir, 'r.sqlite3'));
    registry.createToken(token('t1', null), null);
    issue(registry, 'dev-1', '01', 't1');
    issue(registry, 'dev-1', '02', 't1');
    issue(registry, 'dev-2', '03', 't1');
    assert.equal(registry.requestRenewal(['dev-1', 'nope'], 'rotation', now, 'op'), ['dev-1']);
    assert.equal(registry.getCertificate('02')!.renewFrom, now);
    assert.is(registry.getCertificate('01')!.renewFrom, null, 'superseded certificates are left alone');
    assert.is(registry.getCertificate('03')!.renewFrom, null);
    const later = new Date(now.getTime() + 500);
    assert.equal(registry.requestRenewal('all', 'all of them', later, 'op').sort(), ['dev-1', 'dev-2']);
    assert.equal(registry.getCertificate('03')!.renewFrom, later);
    assert.equal(registry.requestRenewal('all', 'too late', new Date(now.getTime() + 5000), 'op'), [], 'expired certificates cannot be pulled forward');
    const audit = registry.listAudit().filter((a) => a.action === 'renew_requested');
    assert.equal(audit.map((a) => [a.deviceId, a.serial, a.detail?.reason]), [['dev-1', '02', 'rotation'], ['dev-1', '02', 'all of them'], ['dev-2', '03', 'all of them']]);
    registry.close();
  });
});

test('a newer schema than this program knows is refused with a hint, never downgraded', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'r.sqlite3');
    Registry.open(file).close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => Registry.open(file), (e: unknown) => e instanceof FleetcertError && e.code === 'config_invalid' && /newer/.test(e.message));
  });
});

test.run();
