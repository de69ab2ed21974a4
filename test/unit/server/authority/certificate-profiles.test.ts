import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { certificateValidity, planCertificate, profileExtensions, randomSerial } from '#server/authority/certificate-profiles.js';
import { expectCode } from '../../../helpers/expect-error.js';

const now = new Date('2026-03-01T12:00:00.999Z');
const second = Date.parse('2026-03-01T12:00:00Z');
const zeros = (n: number) => new Uint8Array(n);

test('serial rule: 16 bytes, first byte 0x01..0x7f whatever the randomness', () => {
  assert.is(randomSerial(zeros), '01' + '00'.repeat(15));
  assert.is(
    randomSerial((n) => new Uint8Array(n).fill(0xff)),
    '02' + 'ff'.repeat(15),
  );
  assert.is(
    randomSerial((n) => new Uint8Array(n).fill(0x7e)),
    '7f' + '7e'.repeat(15),
  );
  assert.throws(() => randomSerial(() => new Uint8Array(15)));
});

test('validity: from the whole second, backdated 5 min by default, clamped to the issuer', () => {
  const base = { profile: 'device-client' as const, subject: { commonName: 'd' }, now, lifetimeSeconds: 60 };
  assert.equal(certificateValidity(base, undefined), { notBefore: new Date(second - 300_000), notAfter: new Date(second + 60_000) });
  assert.equal(certificateValidity({ ...base, backdateSeconds: 0 }, undefined).notBefore, new Date(second));
  const issuerEnd = new Date(second + 30_000);
  assert.equal(certificateValidity(base, issuerEnd).notAfter, issuerEnd);
  assert.throws(() => certificateValidity({ ...base, lifetimeSeconds: 0 }, undefined));
  assert.throws(() => certificateValidity({ ...base, lifetimeSeconds: Number.NaN }, undefined));
  assert.throws(() => certificateValidity({ ...base, backdateSeconds: -5 }, undefined));
  assert.throws(() => certificateValidity({ ...base, now: new Date(Number.NaN) }, undefined));
});

test('profiles: the extensions each one carries, RSA server keys also encipher', () => {
  const req = (profile: 'root-ca' | 'intermediate-ca' | 'tls-server' | 'device-client') => ({
    profile,
    subject: { commonName: 'x' },
    now,
    lifetimeSeconds: 1,
    dnsNames: ['a', 'a'],
    ipAddresses: ['::1'],
  });
  assert.equal(profileExtensions(req('device-client'), 'rsa'), {
    basicConstraints: { ca: false },
    keyUsage: ['digitalSignature'],
    extendedKeyUsage: ['clientAuth'],
    authorityKeyIdentifier: true,
  });
  assert.equal(profileExtensions(req('root-ca'), 'ec'), {
    basicConstraints: { ca: true },
    keyUsage: ['keyCertSign', 'cRLSign'],
    authorityKeyIdentifier: false,
  });
  assert.equal(profileExtensions(req('intermediate-ca'), 'ec').basicConstraints, { ca: true, pathLength: 0 });
  assert.equal(profileExtensions(req('tls-server'), 'ec').keyUsage, ['digitalSignature']);
  assert.equal(profileExtensions(req('tls-server'), 'rsa').keyUsage, ['digitalSignature', 'keyEncipherment']);
  assert.equal(profileExtensions(req('tls-server'), 'ec').subjectAltName, { dnsNames: ['a'], ipAddresses: ['::1'] });
});

test('plans refuse a root under an issuer, a leaf without one, names outside tls-server, a server without names', async () => {
  const ctx = { keyFamily: 'ec' as const, issuerNotAfter: new Date(second + 86_400_000), randomBytes: zeros };
  const base = { subject: { commonName: 'x' }, now, lifetimeSeconds: 60 };
  await expectCode(() => planCertificate({ ...base, profile: 'root-ca' }, ctx), 'internal');
  await expectCode(() => planCertificate({ ...base, profile: 'device-client' }, { ...ctx, issuerNotAfter: undefined }), 'internal');
  await expectCode(() => planCertificate({ ...base, profile: 'device-client', ipAddresses: ['127.0.0.1'] }, ctx), 'internal');
  await expectCode(() => planCertificate({ ...base, profile: 'tls-server' }, ctx), 'internal');
  await expectCode(() => planCertificate({ ...base, profile: 'tls-server', ipAddresses: ['1.2.3'] }, ctx), 'config_invalid');
  const plan = planCertificate({ ...base, profile: 'device-client' }, ctx);
  assert.is(plan.serial, '01' + '00'.repeat(15));
  assert.equal(plan.subject, { commonName: 'x' });
});

test('service-client: the client extensions, and the only profile that signs a service: subject', async () => {
  const ctx = { keyFamily: 'ec' as const, issuerNotAfter: new Date(second + 86_400_000), randomBytes: zeros };
  const base = { now, lifetimeSeconds: 60 };
  const service = { commonName: 'service:telegraf', organization: 'fleetcert services' };
  const plan = planCertificate({ ...base, profile: 'service-client', subject: service }, ctx);
  assert.equal(plan.extensions, profileExtensions({ ...base, profile: 'device-client', subject: { commonName: 'x' } }, 'ec'));
  assert.equal(plan.extensions.extendedKeyUsage, ['clientAuth']);
  await expectCode(() => planCertificate({ ...base, profile: 'service-client', subject: { commonName: 'telegraf' } }, ctx), 'internal');
  await expectCode(() => planCertificate({ ...base, profile: 'device-client', subject: service }, ctx), 'internal');
  await expectCode(() => planCertificate({ ...base, profile: 'tls-server', subject: service, dnsNames: ['a'] }, ctx), 'internal');
});

test.run();
