/**
 * The Registry contract, as one suite any backend runs unchanged (as MQTT.js runs one client
 * suite over TCP and TLS): give it a factory that opens an empty registry in a directory.
 * Only the interface is used here; backend details (files, pragmas, raw SQL) belong to the
 * backend's own test file.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { expectationOf, type DeviceExpectation, type TokenRecord } from '#server/registry/records.js';
import type { Registry } from '#server/registry/registry.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

export type OpenRegistry = (dir: string) => Promise<Registry>;

const now = new Date('2026-06-01T00:00:00Z');

export const token = (id: string, maxUses: number | null, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  id,
  name: id,
  secretHash: Buffer.alloc(32, 1),
  createdAt: now,
  expiresAt: null,
  maxUses,
  uses: 0,
  idPattern: null,
  labels: { site: 'a' },
  approval: 'auto',
  reenroll: 'deny',
  revokedAt: null,
  ...extra,
});

/** What a decision would read now. */
async function readState(registry: Registry, deviceId: string): Promise<DeviceExpectation> {
  return expectationOf(await registry.getDevice(deviceId), await registry.activeCertificate(deviceId));
}

export async function issue(registry: Registry, deviceId: string, serial: string, tokenId: string, expected?: DeviceExpectation) {
  return registry.recordIssued({
    deviceId,
    expected: expected ?? (await readState(registry, deviceId)),
    tokenId,
    labels: {},
    metadata: undefined,
    countTokenUse: true,
    action: 'issued',
    source: 'test',
    now,
    certificate: { serial, keySha256: `k-${serial}`, notBefore: now, notAfter: new Date(now.getTime() + 1000), pem: 'pem' },
  });
}

/** Everything a failed write must have left alone. */
async function snapshot(registry: Registry, deviceId: string, tokenId: string) {
  return {
    device: await registry.getDevice(deviceId),
    certificates: await registry.listCertificates(deviceId),
    uses: (await registry.getToken(tokenId))?.uses,
    audit: (await registry.listAudit({ limit: 1000 })).length,
  };
}

export function registrySuite(backend: string, open: OpenRegistry): void {
  const it = suite(`registry contract (${backend})`);
  const withRegistry = (work: (registry: Registry) => Promise<void>) =>
    withTempDir(async (dir) => {
      const registry = await open(dir);
      try {
        await work(registry);
      } finally {
        await registry.close();
      }
    });

  it('an exhausted token rolls the whole issuance back: no device, no certificate, no audit row', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', 1), null);
      await issue(registry, 'dev-1', '01', 't1');
      const auditBefore = (await registry.listAudit()).length;
      await expectCode(() => issue(registry, 'dev-2', '02', 't1'), 'token_exhausted');
      assert.is(await registry.getDevice('dev-2'), undefined);
      assert.is(await registry.getCertificate('02'), undefined);
      assert.is((await registry.listAudit()).length, auditBefore);
      assert.is((await registry.getToken('t1'))!.uses, 1);
    }));

  it('a token revoked after it was read is not spent: token_revoked, nothing written', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      const expected = await readState(registry, 'dev-1');
      await registry.revokeToken('t1', now, 'op');
      await expectCode(() => issue(registry, 'dev-1', '01', 't1', expected), 'token_revoked');
      assert.is(await registry.getDevice('dev-1'), undefined);
      assert.is((await registry.getToken('t1'))!.uses, 0);
    }));

  it('recording an issue decided before a revoke is refused (registry_conflict) and changes nothing', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-1', '01', 't1');
      const decidedFrom = await readState(registry, 'dev-1');
      assert.equal(await registry.revokeDevice('dev-1', 'keyCompromise', now, 'op'), ['01']);
      const before = await snapshot(registry, 'dev-1', 't1');
      await expectCode(() => issue(registry, 'dev-1', '02', 't1', decidedFrom), 'registry_conflict');
      assert.equal(await snapshot(registry, 'dev-1', 't1'), before);
      assert.is((await registry.getDevice('dev-1'))!.status, 'revoked');
    }));

  it('two renewals decided from the same state: one certificate, the other registry_conflict', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-1', '01', 't1');
      const decidedFrom = await readState(registry, 'dev-1');
      await issue(registry, 'dev-1', '02', 't1', decidedFrom);
      await expectCode(() => issue(registry, 'dev-1', '03', 't1', decidedFrom), 'registry_conflict');
      const certs = await registry.listCertificates('dev-1');
      assert.equal(
        certs.map((c) => [c.serial, c.status]),
        [
          ['01', 'superseded'],
          ['02', 'active'],
        ],
      );
      assert.is((await registry.activeCertificate('dev-1'))!.serial, '02');
    }));

  it('two first enrollments of one id: the second is a conflict, not a second binding', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      const absent = await readState(registry, 'dev-1');
      assert.is(absent.status, 'absent');
      await issue(registry, 'dev-1', '01', 't1', absent);
      await expectCode(() => issue(registry, 'dev-1', '02', 't1', absent), 'registry_conflict');
      assert.is((await registry.getToken('t1'))!.uses, 1, 'the refused one spent no use');
    }));

  it('a waiting id is bound to its key: no write replaces it or issues to another key (id_pending); approve is CAS on the key', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null, { approval: 'manual' }), null);
      const pending = (key: string, expected: DeviceExpectation) =>
        registry.recordPending({
          deviceId: 'dev-1',
          expected,
          tokenId: 't1',
          labels: {},
          metadata: undefined,
          keySha256: key,
          countTokenUse: false,
          source: 't',
          now,
        });
      const absent = await readState(registry, 'dev-1');
      await pending('key-a', absent);
      await expectCode(() => pending('key-c', absent), 'registry_conflict');
      const sawA = await readState(registry, 'dev-1');
      const before = await snapshot(registry, 'dev-1', 't1');
      await expectCode(() => pending('key-b', sawA), 'id_pending');
      assert.equal(await snapshot(registry, 'dev-1', 't1'), before, 'a refused key writes nothing');

      assert.is(await registry.approveDevice('dev-1', 'key-b', now, 'op'), undefined, 'not the waiting key');
      assert.is((await registry.getDevice('dev-1'))!.status, 'pending');
      assert.is((await registry.approveDevice('dev-1', 'key-a', now, 'op'))!.status, 'approved');
      assert.is(await registry.approveDevice('dev-1', 'key-a', now, 'op'), undefined, 'already approved');
      assert.equal((await registry.listAudit()).find((a) => a.action === 'approved')?.detail, { keySha256: 'key-a' });

      const approved = await readState(registry, 'dev-1');
      const issueFor = (key: string, serial: string) =>
        registry.recordIssued({
          deviceId: 'dev-1',
          expected: approved,
          tokenId: 't1',
          labels: {},
          metadata: undefined,
          countTokenUse: false,
          action: 'issued',
          source: 't',
          now,
          certificate: { serial, keySha256: key, notBefore: now, notAfter: new Date(now.getTime() + 1000), pem: 'pem' },
        });
      await expectCode(() => issueFor('key-b', '0b'), 'id_pending');
      assert.is(await registry.getCertificate('0b'), undefined, 'another key is never issued for an approved id');
      await issueFor('key-a', '0a');
      assert.is((await registry.activeCertificate('dev-1'))!.keySha256, 'key-a');
    }));

  it('contested attempts: refused id_pending rows since the id was last bound, with key and source', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null, { approval: 'manual' }), null);
      const bind = async (key: string) =>
        registry.recordPending({
          deviceId: 'dev-1',
          expected: await readState(registry, 'dev-1'),
          tokenId: 't1',
          labels: {},
          metadata: undefined,
          keySha256: key,
          countTokenUse: false,
          source: 't',
          now,
        });
      const refuse = (code: string, key: string, source: string) =>
        registry.audit({
          at: now,
          action: 'refused',
          code,
          deviceId: 'dev-1',
          tokenId: 't1',
          source,
          detail: { reason: 'r', keySha256: key },
        });
      await bind('key-a');
      await refuse('id_pending', 'key-x', '10.0.0.9');
      await refuse('token_invalid', 'key-y', '10.0.0.8');
      assert.equal(await registry.contestedAttempts('dev-1'), [{ at: now, keySha256: 'key-x', source: '10.0.0.9', tokenId: 't1' }]);
      await registry.resetDevice('dev-1', now, 'op');
      assert.equal(await registry.contestedAttempts('dev-1'), [], 'a reset unbinds the id, and its contest with it');
      await bind('key-x');
      await refuse('id_pending', 'key-a', '10.0.0.7');
      assert.equal(
        (await registry.contestedAttempts('dev-1')).map((c) => c.keySha256),
        ['key-a'],
      );
      assert.equal(await registry.contestedAttempts('nope'), []);
    }));

  it('refusals: grouped by id, source and code, counted, newest group first, only since the given time', () =>
    withRegistry(async (registry) => {
      const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
      const refuse = (minutes: number, deviceId: string | null, code: string, source: string) =>
        registry.audit({ at: at(minutes), action: 'refused', code, deviceId, source, detail: { reason: 'r' } });
      await refuse(-120, 'rpi4-1', 'id_not_allowed', '10.0.0.4');
      await refuse(1, 'rpi4-1', 'id_not_allowed', '10.0.0.4');
      await refuse(2, 'rpi4-1', 'id_not_allowed', '10.0.0.4');
      await refuse(3, null, 'token_invalid', '10.0.0.5');
      await refuse(4, 'rpi3-2', 'token_expired', '10.0.0.6');
      await registry.audit({ at: at(5), action: 'issued', deviceId: 'rpi3-2', source: '10.0.0.6' });
      assert.equal(await registry.listRefusals({ since: now }), [
        { deviceId: 'rpi3-2', source: '10.0.0.6', code: 'token_expired', count: 1, firstAt: at(4), lastAt: at(4) },
        { deviceId: null, source: '10.0.0.5', code: 'token_invalid', count: 1, firstAt: at(3), lastAt: at(3) },
        { deviceId: 'rpi4-1', source: '10.0.0.4', code: 'id_not_allowed', count: 2, firstAt: at(1), lastAt: at(2) },
      ]);
      assert.equal(
        (await registry.listRefusals({ since: at(-180), deviceId: 'rpi4-1' })).map((g) => g.count),
        [3],
      );
      assert.equal(await registry.listRefusals({ since: now, deviceId: 'nope' }), []);
      assert.is((await registry.listRefusals({ since: now, limit: 1 })).length, 1);
    }));

  it('takeover flags: per device, counted, newest first, only since the given time', () =>
    withRegistry(async (registry) => {
      const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
      const flag = (minutes: number, deviceId: string) =>
        registry.audit({ at: at(minutes), action: 'session_takeover', deviceId, source: 'mqtt-status', detail: { connects: 5 } });
      await flag(-30, 'a');
      await flag(1, 'a');
      await flag(3, 'a');
      await flag(2, 'b');
      assert.equal(await registry.listTakeoverFlags({ since: now }), [
        { deviceId: 'a', flags: 2, firstAt: at(1), lastAt: at(3) },
        { deviceId: 'b', flags: 1, firstAt: at(2), lastAt: at(2) },
      ]);
      assert.equal(
        (await registry.listTakeoverFlags({ since: at(-60), deviceId: 'a' })).map((f) => f.flags),
        [3],
      );
      assert.equal(await registry.listTakeoverFlags({ since: now, deviceId: 'c' }), []);
    }));

  it('revoke: the device and every unexpired certificate; a second revoke changes nothing', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-1', '01', 't1');
      await issue(registry, 'dev-1', '02', 't1');
      assert.equal(await registry.revokeDevice('dev-1', 'unspecified', now, 'op'), ['01', '02']);
      assert.equal(await registry.revokeDevice('dev-1', 'unspecified', now, 'op'), []);
      assert.is(await registry.revokeDevice('nope', 'unspecified', now, 'op'), undefined);
      assert.is(await registry.activeCertificate('dev-1'), undefined);
      assert.equal((await registry.revokedCertificates(now)).map((r) => r.serial).sort(), ['01', '02']);
    }));

  it('renew-now marks the current unexpired certificate of each device, audited; expired and unknown ones are skipped', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-1', '01', 't1');
      await issue(registry, 'dev-1', '02', 't1');
      await issue(registry, 'dev-2', '03', 't1');
      assert.equal(await registry.requestRenewal(['dev-1', 'nope'], 'rotation', now, 'op'), ['dev-1']);
      assert.equal((await registry.getCertificate('02'))!.renewFrom, now);
      assert.is((await registry.getCertificate('01'))!.renewFrom, null, 'superseded certificates are left alone');
      assert.is((await registry.getCertificate('03'))!.renewFrom, null);
      const later = new Date(now.getTime() + 500);
      assert.equal((await registry.requestRenewal('all', 'all of them', later, 'op')).sort(), ['dev-1', 'dev-2']);
      assert.equal((await registry.getCertificate('03'))!.renewFrom, later);
      const tooLate = new Date(now.getTime() + 5000);
      assert.equal(await registry.requestRenewal('all', 'too late', tooLate, 'op'), [], 'expired certificates cannot be pulled forward');
      const audit = (await registry.listAudit()).filter((a) => a.action === 'renew_requested');
      assert.equal(
        audit.map((a) => [a.deviceId, a.serial, a.detail?.reason]),
        [
          ['dev-1', '02', 'rotation'],
          ['dev-1', '02', 'all of them'],
          ['dev-2', '03', 'all of them'],
        ],
      );
    }));

  it('a proven successor revokes (superseded) the unexpired certificates it replaced, once, audited; only while it is active', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-1', '01', 't1');
      await issue(registry, 'dev-1', '02', 't1');
      await issue(registry, 'dev-1', '03', 't1');
      assert.equal(await registry.revokeSuperseded('dev-1', '02', now, 'mqtt'), [], 'proof by a certificate that is not active: nothing');
      assert.equal((await registry.revokedCertificates(now)).length, 0);
      assert.equal(await registry.revokeSuperseded('dev-1', '03', now, 'mqtt'), ['01', '02']);
      assert.equal(await registry.revokeSuperseded('dev-1', '03', now, 'mqtt'), [], 'a second proof changes nothing');
      const revoked = await registry.revokedCertificates(now);
      assert.equal(
        revoked.map((r) => [r.serial, r.reason]),
        [
          ['01', 'superseded'],
          ['02', 'superseded'],
        ],
      );
      assert.is((await registry.getDevice('dev-1'))!.status, 'active', 'the device itself is not revoked');
      assert.is((await registry.activeCertificate('dev-1'))!.serial, '03');
      assert.is((await registry.currentCertificate('dev-1'))!.serial, '03');
      const audit = (await registry.listAudit()).filter((a) => a.action === 'predecessors_revoked');
      assert.equal(
        audit.map((a) => [a.serial, a.detail]),
        [['03', { reason: 'superseded', serials: ['01', '02'] }]],
      );
      // Expired certificates are neither revoked nor listed: the CRL holds unexpired entries only.
      await issue(registry, 'dev-1', '04', 't1');
      const later = new Date(now.getTime() + 5000);
      assert.equal(await registry.revokeSuperseded('dev-1', '04', later, 'mqtt'), []);
      assert.equal(await registry.revokedCertificates(later), [], 'expired entries leave the CRL');
    }));

  it('renew-now with key compromise: the marked certificate is revoked (keyCompromise) when its successor is recorded', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-1', '01', 't1');
      await issue(registry, 'dev-2', '11', 't1');
      assert.equal(await registry.requestRenewal(['dev-1'], 'key may have leaked', now, 'op', { keyCompromise: true }), ['dev-1']);
      assert.equal(await registry.requestRenewal(['dev-1', 'dev-2'], 'rotation', now, 'op'), ['dev-1', 'dev-2']);
      assert.is((await registry.getCertificate('01'))!.keyCompromised, true, 'a later plain renew-now keeps the mark');
      assert.is((await registry.getCertificate('11'))!.keyCompromised, false);
      assert.equal((await registry.revokedCertificates(now)).length, 0, 'marked, not revoked: it may still renew');
      assert.equal(await issue(registry, 'dev-1', '02', 't1'), { predecessor: '01', predecessorRevoked: true });
      assert.equal(await issue(registry, 'dev-2', '12', 't1'), { predecessor: '11', predecessorRevoked: false });
      assert.equal(
        (await registry.revokedCertificates(now)).map((r) => [r.serial, r.reason]),
        [['01', 'keyCompromise']],
      );
      assert.is((await registry.getCertificate('11'))!.status, 'superseded');
      assert.is((await registry.currentCertificate('dev-1'))!.serial, '02');
      const renewed = (await registry.listAudit({ deviceId: 'dev-1' })).filter((a) => a.serial === '02');
      assert.equal(renewed[0]?.detail?.revokedPredecessor, '01');
    }));

  it('transaction: commits together, rolls back together, and no other call of this process lands inside it', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      const failed = registry.transaction(async (tx) => {
        await issue(tx, 'dev-1', '01', 't1');
        throw new Error('changed my mind');
      });
      await failed.then(
        () => assert.unreachable('the transaction should have failed'),
        (err: Error) => assert.is(err.message, 'changed my mind'),
      );
      assert.is(await registry.getDevice('dev-1'), undefined, 'rolled back');

      const seen: string[] = [];
      let outside: Promise<void> | undefined;
      await registry.transaction(async (tx) => {
        await issue(tx, 'dev-1', '01', 't1');
        // A call from elsewhere while the transaction is open never sees its uncommitted writes: it
        // waits for the end (SQLite: this process's calls queue) or reads the state before it (PostgreSQL).
        outside = registry.getDevice('dev-1').then((d) => void seen.push(`outside saw ${d?.status}`));
        await new Promise((r) => setTimeout(r, 20));
        seen.push('commit');
      });
      await outside;
      const order = seen.join(', ');
      assert.ok(order === 'commit, outside saw active' || order === 'outside saw undefined, commit', order);
    }));

  it('a serial already recorded (for any device) is a registry_conflict, and nothing is written', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-1', '01', 't1');
      const before = await snapshot(registry, 'dev-2', 't1');
      await expectCode(() => issue(registry, 'dev-2', '01', 't1'), 'registry_conflict');
      assert.equal(await snapshot(registry, 'dev-2', 't1'), before);
    }));

  it('the stored CRL: its number only grows, and of two publications from one state only one lands', () =>
    withRegistry(async (registry) => {
      const crl = (n: number) => ({ crlNumber: n, thisUpdate: now, nextUpdate: new Date(now.getTime() + 1000), der: Buffer.from([n]) });
      assert.is(await registry.latestCrl(), undefined);
      assert.ok(await registry.storeCrl(crl(5), null));
      assert.not.ok(await registry.storeCrl(crl(9), null), 'a first CRL already exists');
      const raced = await Promise.all([registry.storeCrl(crl(6), 5), registry.storeCrl(crl(7), 5)]);
      assert.equal(raced.filter(Boolean).length, 1);
      const latest = await registry.latestCrl();
      assert.ok(latest!.crlNumber === 6 || latest!.crlNumber === 7);
      assert.not.ok(await registry.storeCrl(crl(4), latest!.crlNumber), 'never backwards');
      assert.equal([...(await registry.latestCrl())!.der], [latest!.crlNumber]);
    }));

  it('queryDevices: filters, searches (LIKE wildcards are literal), sorts and pages in the registry, with the current certificate', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      for (const [id, serial] of [
        ['dev-a', '0a'],
        ['dev-b', '0b'],
        ['dev_c', '0c'],
        ['other', '0d'],
      ] as const) {
        await issue(registry, id, serial, 't1');
      }
      await registry.revokeDevice('dev-b', 'unspecified', now, 'op');
      const all = await registry.queryDevices({ sort: 'id' });
      assert.is(all.total, 4);
      assert.equal(
        all.devices.map((d) => [d.device.id, d.current?.serial]),
        [
          ['dev-a', '0a'],
          ['dev-b', '0b'],
          ['dev_c', '0c'],
          ['other', '0d'],
        ],
      );
      assert.equal(
        (await registry.queryDevices({ search: 'dev_' })).devices.map((d) => d.device.id),
        ['dev_c'],
        '_ is not a wildcard',
      );
      assert.equal((await registry.queryDevices({ search: '%' })).total, 0, '% is not a wildcard');
      const page = await registry.queryDevices({ search: 'dev', sort: 'id', descending: true, offset: 1, limit: 1 });
      assert.equal([page.total, page.devices.map((d) => d.device.id)], [3, ['dev-b']]);
      assert.equal(
        (await registry.queryDevices({ status: 'revoked' })).devices.map((d) => d.device.id),
        ['dev-b'],
      );
      const soon = new Date(now.getTime() + 2000);
      assert.equal(
        (await registry.queryDevices({ expiringBefore: soon })).devices.map((d) => d.device.id),
        ['dev-a', 'dev_c', 'other'],
        'only active certificates expire',
      );
      assert.is((await registry.queryDevices({ expiringBefore: now })).total, 0);
      assert.is((await registry.queryDevices({ silentSince: now })).total, 0);
      assert.is((await registry.queryDevices({ silentSince: soon })).total, 4);
    }));

  it('fleetSummary and countAudit: devices by status, expiry per day, enrollments per hour', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-a', '0a', 't1');
      await issue(registry, 'dev-b', '0b', 't1');
      await registry.revokeDevice('dev-b', 'unspecified', now, 'op');
      await registry.recordReportedStatus('dev-a', 'online', '0a', now);
      const summary = await registry.fleetSummary(now, 3);
      assert.is(summary.byStatus.active, 1);
      assert.is(summary.byStatus.revoked, 1);
      assert.is(summary.byStatus.pending, 0);
      assert.is(summary.online, 1);
      assert.equal(summary.expiringPerDay, [1, 0, 0]);
      assert.is((await registry.fleetSummary(new Date(now.getTime() + 5000), 3)).expired, 1);
      const counts = await registry.countAudit(['issued', 'revoked'], new Date(now.getTime() - 1));
      assert.equal(
        counts.map((c) => [c.hour.toISOString(), c.action, c.count]),
        [
          [now.toISOString(), 'issued', 2],
          [now.toISOString(), 'revoked', 1],
        ],
      );
      const revokes = await registry.listAudit({ action: 'revoked' });
      assert.equal(
        revokes.map((a) => a.deviceId),
        ['dev-b'],
      );
      const newest = (await registry.listAudit({ limit: 1 }))[0]!;
      assert.ok((await registry.listAudit({ beforeSeq: newest.seq })).every((a) => a.seq < newest.seq));
    }));

  it('admins: a certificate logs in only while unexpired and only as the admin it was issued to; a device serial never does', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-a', '0a', 't1');
      const later = new Date(now.getTime() + 60_000);
      const saved = await registry.saveAdmin({ name: 'alice', role: 'viewer', passwordHash: 'scrypt$x', now, source: 'cli:root' });
      assert.equal([saved.role, saved.passwordHash], ['viewer', 'scrypt$x']);
      await registry.saveAdmin({
        name: 'alice',
        role: 'operator',
        certificate: { serial: 'ad01', notAfter: later },
        now,
        source: 'cli:root',
      });
      assert.equal(await registry.getAdmin('alice'), { ...saved, role: 'operator' }, 'the password is kept when none is given');
      assert.is((await registry.adminByCertificate('ad01', now))?.name, 'alice');
      assert.is(await registry.adminByCertificate('ad01', later), undefined, 'expired');
      assert.is(await registry.adminByCertificate('0a', now), undefined, 'a device certificate is no admin');
      const reused = registry.saveAdmin({
        name: 'bob',
        role: 'viewer',
        certificate: { serial: 'ad01', notAfter: later },
        now,
        source: null,
      });
      await reused.then(
        () => assert.unreachable('a serial is unique'),
        () => undefined,
      );
      assert.is(await registry.getAdmin('bob'), undefined, 'a reused serial writes nothing');
      assert.equal(
        (await registry.listAudit({ action: 'admin_saved' })).map((a) => a.source),
        ['cli:root', 'cli:root'],
      );
      assert.ok(await registry.removeAdmin('alice', now, 'cli:root'));
      assert.is(await registry.getAdmin('alice'), undefined);
      assert.is(await registry.adminByCertificate('ad01', now), undefined, "a removed admin's certificate opens nothing");
      assert.not.ok(await registry.removeAdmin('alice', now, 'cli:root'));
      assert.is((await registry.listAudit({ action: 'admin_removed' })).length, 1);
    }));

  it('services: grants replaced on save, certificates kept; revoke marks the service and puts its unexpired certificates in the CRL', () =>
    withRegistry(async (registry) => {
      await registry.createToken(token('t1', null), null);
      await issue(registry, 'dev-a', '0a', 't1');
      await registry.revokeDevice('dev-a', 'unspecified', now, 'test');
      const later = new Date(now.getTime() + 60_000);
      const save = async (serial: string, notAfter: Date, read: readonly string[], write: readonly string[] = []) =>
        (await registry.saveService({
          name: 'telegraf',
          grants: { read, write },
          certificate: { serial, notAfter },
          now,
          source: 'cli:root',
        }))!;
      const renew = (serial: string) =>
        registry.saveService({ name: 'telegraf', certificate: { serial, notAfter: later }, now, source: 'cli:root' });
      assert.is(await renew('5eff'), undefined, 'no renewal of an unknown service');
      const first = await save('5e01', later, ['devices/+/status']);
      assert.equal([first.status, first.read, first.write], ['active', ['devices/+/status'], []]);
      const expired = new Date(now.getTime() - 1000);
      const renewed = await save('5e02', later, ['devices/+/status', 'devices/+/temp'], ['devices/+/cmd/#']);
      await save('5e00', expired, renewed.read, renewed.write);
      const got = (await registry.getService('telegraf'))!;
      assert.equal(got.read, ['devices/+/status', 'devices/+/temp'], 'the grants of the last save');
      assert.equal(got.write, ['devices/+/cmd/#']);
      assert.equal(got.certificates.map((c) => c.serial).sort(), ['5e00', '5e01', '5e02']);
      assert.equal(
        (await registry.listServices()).map((s) => s.name),
        ['telegraf'],
      );
      assert.is(await registry.getService('nodered'), undefined);
      await save('5e01', later, []).then(
        () => assert.unreachable('a serial is unique'),
        () => undefined,
      );
      assert.equal((await registry.getService('telegraf'))!.read, got.read, 'a reused serial writes nothing');

      assert.equal(await registry.revokeService('telegraf', 'cessationOfOperation', now, 'cli:root'), ['5e01', '5e02']);
      const revoked = (await registry.getService('telegraf'))!;
      assert.is(revoked.status, 'revoked');
      assert.ok(revoked.certificates.filter((c) => c.serial !== '5e00').every((c) => c.revokedAt?.getTime() === now.getTime()));
      assert.equal(
        (await registry.revokedCertificates(now)).map((r) => [r.serial, r.reason]).sort(),
        [
          ['0a', 'unspecified'],
          ['5e01', 'cessationOfOperation'],
          ['5e02', 'cessationOfOperation'],
        ],
        "the CRL carries devices' and services' revocations",
      );
      assert.equal(await registry.revokeService('telegraf', 'unspecified', now, 'cli:root'), [], 'nothing left to revoke');
      assert.is(await renew('5e04'), undefined, 'a renewal racing the revoke does not reinstate it');
      assert.is((await registry.getService('telegraf'))!.status, 'revoked');
      assert.is(await registry.revokeService('nobody', 'unspecified', now, null), undefined);
      assert.is((await save('5e03', later, ['devices/+/status'])).status, 'active', 'issuing again reinstates it');
      const again = (await renew('5e05'))!;
      assert.equal([again.read, again.certificates.at(-1)?.serial], [['devices/+/status'], '5e05'], 'a renewal keeps the grants');
      assert.equal(
        (await registry.listAudit({ limit: 1000 })).filter((a) => a.action.startsWith('service_')).map((a) => a.action),
        ['service_saved', 'service_saved', 'service_saved', 'service_revoked', 'service_revoked', 'service_saved', 'service_saved'],
      );
    }));

  it.run();
}
