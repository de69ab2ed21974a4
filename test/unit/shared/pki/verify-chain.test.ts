import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeCertificate } from '#shared/pki/certificate.js';
import { generateKeyPair } from '#shared/pki/key-pair.js';
import { verifyChain } from '#shared/pki/verify-chain.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { DAY, issueDevice, issueWith, makeTestPki } from '../../../helpers/test-pki.js';

const now = new Date('2026-03-01T12:00:00Z');
const pki = await makeTestPki(now);
const roots = [pki.root.certificate];
const intermediates = [pki.intermediate.certificate];

test('leaf -> intermediate -> root validates and returns the path', async () => {
  const { certificate } = await issueDevice(pki, 'dev-1', { now });
  const path = await verifyChain({ leaf: certificate, intermediates, roots, now });
  assert.equal(
    path.map((c) => describeCertificate(c).subjectCommonName),
    ['dev-1', 'Test Issuing CA', 'Test Root CA'],
  );
});

test('expired and not-yet-valid have their own codes (the second is a clock problem)', async () => {
  const { certificate } = await issueDevice(pki, 'dev-2', { now, lifetimeSeconds: 3600 });
  await expectCode(
    () => verifyChain({ leaf: certificate, intermediates, roots, now: new Date(now.getTime() + 2 * 3600_000) }),
    'cert_expired',
  );
  await expectCode(
    () => verifyChain({ leaf: certificate, intermediates, roots, now: new Date('1970-01-01T00:00:10Z') }),
    'cert_not_yet_valid',
  );
});

test('a grace window accepts an expired leaf up to its end, never an expired CA', async () => {
  const { certificate } = await issueDevice(pki, 'dev-grace', { now, lifetimeSeconds: 3600 });
  const grace = 86_400_000;
  const inside = new Date(certificate.notAfter.getTime() + grace - 1000);
  const path = await verifyChain({ leaf: certificate, intermediates, roots, now: inside, leafGraceMs: grace });
  assert.is(path.length, 3);
  await expectCode(
    () =>
      verifyChain({
        leaf: certificate,
        intermediates,
        roots,
        now: new Date(certificate.notAfter.getTime() + grace + 1000),
        leafGraceMs: grace,
      }),
    'cert_expired',
  );
  // The grace is for the leaf only: long after the issuing CA's own expiry nothing passes.
  const afterCa = new Date(intermediates[0]!.notAfter.getTime() + 1000);
  await expectCode(
    () => verifyChain({ leaf: certificate, intermediates, roots, now: afterCa, leafGraceMs: afterCa.getTime() }),
    'cert_expired',
  );
});

test('missing intermediate or foreign root: chain_invalid', async () => {
  const { certificate } = await issueDevice(pki, 'dev-3', { now });
  await expectCode(() => verifyChain({ leaf: certificate, roots, now }), 'chain_invalid');
  const other = await makeTestPki(now, 'ec-p256', 'Other');
  await expectCode(() => verifyChain({ leaf: certificate, intermediates, roots: [other.root.certificate], now }), 'chain_invalid');
});

test('an issuer with the right name but another key is not accepted', async () => {
  // Same subject name as our intermediate, different key: a forged issuer.
  const forgedKeys = await generateKeyPair();
  const forged = await issueWith((await makeTestPki(now, 'ec-p256', 'Test')).root, forgedKeys, {
    profile: 'intermediate-ca',
    subject: { commonName: 'Test Issuing CA' },
    now,
    lifetimeSeconds: DAY,
  });
  const leaf = await issueDevice({ root: pki.root, intermediate: { certificate: forged, keys: forgedKeys } }, 'dev-4', { now });
  await expectCode(() => verifyChain({ leaf: leaf.certificate, intermediates: [forged, ...intermediates], roots, now }), 'chain_invalid');
});

test('a device certificate cannot act as an issuer', async () => {
  const device = await issueDevice(pki, 'dev-5', { now });
  const child = await issueWith(device, await generateKeyPair(), {
    profile: 'device-client',
    subject: { commonName: 'dev-child' },
    now,
    lifetimeSeconds: DAY,
  });
  const err = await expectCode(
    () => verifyChain({ leaf: child, intermediates: [device.certificate, ...intermediates], roots, now }),
    'chain_invalid',
  );
  assert.match(err.message, /not a CA/);
});

test.run();
