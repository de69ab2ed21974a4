import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PeculiarIssuer } from '#server/authority/peculiar-issuer.js';
import { issueServerTls, renewalRequest, serverTlsDue } from '#server/authority/server-tls.js';
import { makeTestPki } from '../../../helpers/test-pki.js';

const now = new Date('2026-06-01T00:00:00Z');
const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const YEAR = 365 * 86_400;

test('due in the last third of the configured lifetime, or when the certificate outlives it', () => {
  assert.not.ok(serverTlsDue(at(YEAR), now, YEAR), 'fresh');
  assert.not.ok(serverTlsDue(at(YEAR / 3 + 1), now, YEAR));
  assert.ok(serverTlsDue(at(YEAR / 3 - 1), now, YEAR), 'last third');
  assert.ok(serverTlsDue(at(-1), now, YEAR), 'expired');
  assert.ok(serverTlsDue(at(YEAR), now, 9), 'a year-long certificate when serve issues 9 s ones');
  assert.not.ok(serverTlsDue(at(9), now, 9), 'fresh 9 s one');
  assert.ok(serverTlsDue(at(2), now, 9));
});

test('a renewal keeps the subject, the names and the key type, with a new key', async () => {
  const pki = await makeTestPki(now, 'ec-p384');
  const issuer = new PeculiarIssuer(pki.intermediate);
  const request = {
    subject: { commonName: 'broker.local', organization: 'Plant 3' },
    dnsNames: ['broker.local', 'broker'],
    ipAddresses: ['192.0.2.7'],
    keyType: 'ec-p384' as const,
    now,
    lifetimeSeconds: YEAR,
  };
  const first = await issueServerTls(issuer, request);
  const again = renewalRequest(first, at(60), 9);
  assert.equal(again, { ...request, now: at(60), lifetimeSeconds: 9 });
  const second = await issueServerTls(issuer, again);
  assert.is.not(second.keyPem, first.keyPem);
  assert.equal([second.info.dnsNames, second.info.ipAddresses], [first.info.dnsNames, first.info.ipAddresses]);
  assert.is(second.info.subject, first.info.subject);
});

test.run();
