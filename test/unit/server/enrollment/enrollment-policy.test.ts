import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideEnrollment, decideReenrollment, type EnrollInput } from '#server/enrollment/enrollment-policy.js';
import type { CertificateRecord, DeviceRecord, TokenRecord } from '#server/registry/records.js';

const now = new Date('2026-06-01T12:00:00Z');
const token: TokenRecord = {
  id: 'tok0000001',
  name: 't',
  secretHash: Buffer.alloc(32),
  createdAt: new Date('2026-05-01T00:00:00Z'),
  expiresAt: new Date('2026-07-01T00:00:00Z'),
  maxUses: 10,
  uses: 0,
  idPattern: 'rpi-*',
  labels: {},
  approval: 'auto',
  reenroll: 'deny',
  revokedAt: null,
};
const device = (status: DeviceRecord['status'], pendingKeySha256: string | null = null): DeviceRecord => ({
  id: 'rpi-1',
  status,
  tokenId: token.id,
  labels: {},
  metadata: {},
  pendingKeySha256,
  firstSeen: now,
  lastSeen: now,
  updatedAt: now,
  reportedState: null,
  reportedSerial: null,
  reportedAt: null,
});
const cert = (keySha256: string, over: Partial<CertificateRecord> = {}): CertificateRecord => ({
  serial: 'aa',
  deviceId: 'rpi-1',
  keySha256,
  notBefore: new Date('2026-05-30T00:00:00Z'),
  notAfter: new Date('2026-06-29T00:00:00Z'),
  status: 'active',
  issuedAt: new Date('2026-05-30T00:00:00Z'),
  revokedAt: null,
  revocationReason: null,
  pem: '',
  renewFrom: null,
  keyCompromised: false,
  ...over,
});
const input = (over: Partial<EnrollInput> = {}): EnrollInput => ({
  token,
  deviceId: 'rpi-1',
  keySha256: 'k1',
  device: undefined,
  current: undefined,
  now,
  ...over,
});
const code = (d: ReturnType<typeof decideEnrollment>) => (d.kind === 'refuse' ? d.code : d.kind);

test('a new id with a good token is issued and counts a use; manual approval makes it pending', () => {
  assert.equal(decideEnrollment(input()), { kind: 'issue', countTokenUse: true, action: 'issued' });
  assert.equal(decideEnrollment(input({ token: { ...token, approval: 'manual' } })), { kind: 'pending', countTokenUse: true });
});

test('token problems come first: revoked, expired at exactly expiresAt', () => {
  assert.is(code(decideEnrollment(input({ token: { ...token, revokedAt: now } }))), 'token_revoked');
  assert.is(code(decideEnrollment(input({ now: token.expiresAt! }))), 'token_expired');
  assert.is(code(decideEnrollment(input({ now: new Date(token.expiresAt!.getTime() - 1) }))), 'issue');
});

test('id syntax, reserved names and the token pattern', () => {
  assert.is(code(decideEnrollment(input({ deviceId: '' }))), 'id_invalid');
  assert.is(code(decideEnrollment(input({ deviceId: 'rpi-' + 'x'.repeat(61) }))), 'id_invalid');
  assert.is(code(decideEnrollment(input({ deviceId: 'rpi-' + 'x'.repeat(60) }))), 'issue');
  assert.is(code(decideEnrollment(input({ deviceId: 'ROOT', token: { ...token, idPattern: null } }))), 'id_reserved');
  assert.is(code(decideEnrollment(input({ deviceId: 'opi-1' }))), 'id_not_allowed');
});

test('active id: same key returns the current certificate; expired one is re-issued to the same key; other key is id_taken unless allowed', () => {
  const current = cert('k1');
  assert.equal(decideEnrollment(input({ device: device('active'), current })), { kind: 'reuse', certificate: current });
  assert.equal(
    decideEnrollment(
      input({ device: device('active'), current, now: new Date('2026-07-01T00:00:00Z'), token: { ...token, expiresAt: null } }),
    ),
    { kind: 'issue', countTokenUse: false, action: 'reissued' },
  );
  assert.is(code(decideEnrollment(input({ device: device('active'), current, keySha256: 'k2' }))), 'id_taken');
  assert.equal(decideEnrollment(input({ device: device('active'), current, keySha256: 'k2', token: { ...token, reenroll: 'allow' } })), {
    kind: 'issue',
    countTokenUse: true,
    action: 'reissued',
  });
  assert.is(code(decideEnrollment(input({ device: device('active'), current: cert('k1', { status: 'revoked' }) }))), 'id_taken');
});

test('--reenroll allow re-enrolls only ids that token enrolled: another token gets id_taken', () => {
  const current = cert('k1');
  const other: TokenRecord = { ...token, id: 'tok0000002', reenroll: 'allow', idPattern: null };
  assert.is(code(decideEnrollment(input({ device: device('active'), current, keySha256: 'k2', token: other }))), 'id_taken');
  const own = { ...device('active'), tokenId: other.id };
  assert.equal(decideEnrollment(input({ device: own, current, keySha256: 'k2', token: other })), {
    kind: 'issue',
    countTokenUse: true,
    action: 'reissued',
  });
});

test('pending, approved, revoked and reset devices', () => {
  assert.equal(decideEnrollment(input({ device: device('pending', 'k1') })), { kind: 'pending', countTokenUse: false });
  assert.equal(decideEnrollment(input({ device: device('approved', 'k1') })), { kind: 'issue', countTokenUse: false, action: 'issued' });
  assert.is(code(decideEnrollment(input({ device: device('revoked') }))), 'device_revoked');
  assert.equal(decideEnrollment(input({ device: device('reset'), current: cert('k0') })), {
    kind: 'issue',
    countTokenUse: true,
    action: 'issued',
  });
});

test('a pending or approved id is bound to its key: another key is id_pending whatever the token allows, and never replaces it', () => {
  const tokens = [token, { ...token, approval: 'manual' as const }, { ...token, reenroll: 'allow' as const }];
  for (const status of ['pending', 'approved'] as const) {
    for (const t of tokens) {
      const decision = decideEnrollment(input({ token: t, device: device(status, 'k1'), keySha256: 'k9' }));
      assert.is(code(decision), 'id_pending', `${status} under ${JSON.stringify(t.approval)}/${t.reenroll}`);
      assert.match((decision as { reason: string }).reason, /key k1; this request has key k9/, 'the operator reason names both keys');
    }
  }
  // The waiting key itself: polls while pending (no second token use), is issued once approved.
  assert.equal(decideEnrollment(input({ device: device('pending', 'k1'), keySha256: 'k1' })), { kind: 'pending', countTokenUse: false });
  const approved = decideEnrollment(input({ device: device('approved', 'k1'), keySha256: 'k1' }));
  assert.equal(approved, { kind: 'issue', countTokenUse: false, action: 'issued' });
  // Token and id checks still come first; a reset frees the id for any key.
  const revokedToken = { ...token, revokedAt: now };
  assert.is(code(decideEnrollment(input({ token: revokedToken, device: device('approved', 'k1'), keySha256: 'k9' }))), 'token_revoked');
  assert.is(code(decideEnrollment(input({ device: device('reset'), keySha256: 'k9' }))), 'issue');
});

test('re-enrollment: current cert + new key renews; same key, other subject, stale or revoked cert are refused', () => {
  const current = cert('k1');
  const base = {
    deviceId: 'rpi-1',
    csrCommonName: 'rpi-1',
    keySha256: 'k2',
    presented: current,
    device: device('active'),
    current,
    presentedExpired: false,
  };
  const rcode = (d: ReturnType<typeof decideReenrollment>) => (d.kind === 'refuse' ? d.code : d.kind);
  assert.equal(decideReenrollment(base), { kind: 'issue', countTokenUse: false, action: 'renewed' });
  assert.is(rcode(decideReenrollment({ ...base, keySha256: 'k1' })), 'key_reused');
  assert.is(rcode(decideReenrollment({ ...base, csrCommonName: 'rpi-2' })), 'subject_mismatch');
  assert.is(rcode(decideReenrollment({ ...base, presented: undefined })), 'certificate_not_current');
  assert.is(rcode(decideReenrollment({ ...base, device: device('revoked') })), 'device_revoked');
  assert.is(rcode(decideReenrollment({ ...base, device: device('reset') })), 'certificate_not_current');
  const old = cert('k0', { serial: '01', status: 'superseded' });
  const renewed = cert('k2', { serial: '02' });
  assert.equal(decideReenrollment({ ...base, presented: old, current: renewed }), { kind: 'reuse', certificate: renewed });
  assert.is(rcode(decideReenrollment({ ...base, presented: old, current: renewed, keySha256: 'k3' })), 'certificate_not_current');
  // Once revoked as replaced (superseded and proven, or key-compromised), not even the retry for its successor's key.
  for (const reason of ['superseded', 'keyCompromise']) {
    const replaced = cert('k0', { serial: '01', status: 'revoked', revocationReason: reason });
    assert.is(rcode(decideReenrollment({ ...base, presented: replaced, current: renewed })), 'certificate_not_current', reason);
  }
});

test('re-enrollment with an expired certificate (inside the grace window): only the latest, unrevoked one renews', () => {
  const current = cert('k1');
  const base = {
    deviceId: 'rpi-1',
    csrCommonName: 'rpi-1',
    keySha256: 'k2',
    presented: current,
    device: device('active'),
    current,
    presentedExpired: true,
  };
  const rcode = (d: ReturnType<typeof decideReenrollment>) => (d.kind === 'refuse' ? d.code : d.kind);
  assert.equal(decideReenrollment(base), { kind: 'issue', countTokenUse: false, action: 'renewed' });
  assert.is(
    rcode(decideReenrollment({ ...base, presented: cert('k1', { status: 'revoked' }), current: cert('k1', { status: 'revoked' }) })),
    'device_revoked',
  );
  assert.is(rcode(decideReenrollment({ ...base, device: device('revoked') })), 'device_revoked');
  // A superseded certificate is not the latest, even when its successor is for this very key.
  const old = cert('k0', { serial: '01', status: 'superseded' });
  assert.is(rcode(decideReenrollment({ ...base, presented: old, current: cert('k2', { serial: '02' }) })), 'certificate_not_current');
});

test.run();
