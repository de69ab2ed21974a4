/** A small PKI made per test run with the server's own issuing code: root -> intermediate -> leaves. */
import type { CaSigner, IssueRequest } from '#server/authority/certificate-issuer.js';
import { issueRootCertificate, PeculiarIssuer } from '#server/authority/peculiar-issuer.js';
import { certificatesToPem, certificateToPem, readCertificate, type Certificate } from '#shared/pki/certificate.js';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair, type KeyPair, type KeyType } from '#shared/pki/key-pair.js';

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

/** A TLS server identity for `localhost` from the test PKI (chain and key as PEM, the root to trust), for HTTPS servers in tests. */
export async function localhostTls(pki: TestPki): Promise<{ certPem: string; keyPem: string; caPems: string[] }> {
  const keys = await generateKeyPair();
  const cert = await issueWith(pki.intermediate, keys, {
    profile: 'tls-server',
    subject: { commonName: 'localhost' },
    now: new Date(),
    lifetimeSeconds: DAY,
    dnsNames: ['localhost'],
  });
  return {
    certPem: certificatesToPem([cert, pki.intermediate.certificate]),
    keyPem: await exportPrivateKeyPem(keys),
    caPems: [certificateToPem(pki.root.certificate)],
  };
}
