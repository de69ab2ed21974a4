/** A small PKI made per test run with the server's own issuing code: root -> intermediate -> leaves. */
import type { CaSigner, IssueRequest } from '#server/authority/certificate-issuer.js';
import { issueRootCertificate, PeculiarIssuer } from '#server/authority/peculiar-issuer.js';
import { readCertificate, type Certificate } from '#shared/pki/certificate.js';
import { exportPublicKeySpki, generateKeyPair, type KeyPair, type KeyType } from '#shared/pki/key-pair.js';

export const DAY = 24 * 3600;

export interface TestPki {
  readonly root: CaSigner;
  readonly intermediate: CaSigner;
}

export async function makeTestPki(now = new Date(), keyType: KeyType = 'ec-p256', name = 'Test'): Promise<TestPki> {
  const rootKeys = await generateKeyPair(keyType);
  const rootIssued = await issueRootCertificate(rootKeys, {
    subject: { commonName: `${name} Root CA`, organization: 'fleetcert tests' },
    now,
    lifetimeSeconds: 3650 * DAY,
  });
  const root = { certificate: readCertificate(rootIssued.der), keys: rootKeys };
  const interKeys = await generateKeyPair(keyType);
  const interCert = await issueWith(root, interKeys, {
    profile: 'intermediate-ca',
    subject: { commonName: `${name} Issuing CA` },
    now,
    lifetimeSeconds: 1825 * DAY,
  });
  return { root, intermediate: { certificate: interCert, keys: interKeys } };
}

/** Any profile under any CA (a device certificate too, for tests that need a misused issuer). */
export async function issueWith(ca: CaSigner, keys: KeyPair, request: Omit<IssueRequest, 'publicKeySpki'>): Promise<Certificate> {
  const issued = await new PeculiarIssuer(ca).issue({ ...request, publicKeySpki: await exportPublicKeySpki(keys) });
  return readCertificate(issued.der);
}

export async function issueDevice(
  pki: TestPki,
  commonName: string,
  options: { now?: Date; lifetimeSeconds?: number; keys?: KeyPair } = {},
): Promise<{ certificate: Certificate; keys: KeyPair }> {
  const keys = options.keys ?? (await generateKeyPair());
  const certificate = await issueWith(pki.intermediate, keys, {
    profile: 'device-client',
    subject: { commonName },
    now: options.now ?? new Date(),
    lifetimeSeconds: options.lifetimeSeconds ?? 30 * DAY,
  });
  return { certificate, keys };
}
