/** A small PKI made per test run with our own issuing code: root -> intermediate -> leaves. */
import { type Certificate, type Signer } from '../../shared/pki/certificate.js';
import { issueCertificate } from '../../shared/pki/issue-certificate.js';
import { generateKeyPair, type KeyPair, type KeyType } from '../../shared/pki/key-pair.js';

export const DAY = 24 * 3600;

export interface TestPki {
  readonly root: Signer;
  readonly intermediate: Signer;
}

export async function makeTestPki(now = new Date(), keyType: KeyType = 'ec-p256', name = 'Test'): Promise<TestPki> {
  const rootKeys = await generateKeyPair(keyType);
  const rootCert = await issueCertificate({
    profile: 'root-ca',
    subject: { commonName: `${name} Root CA`, organization: 'fleetcert tests' },
    publicKey: rootKeys.publicKey,
    signer: { keys: rootKeys },
    now,
    lifetimeSeconds: 3650 * DAY,
  });
  const root = { certificate: rootCert, keys: rootKeys };
  const interKeys = await generateKeyPair(keyType);
  const interCert = await issueCertificate({
    profile: 'intermediate-ca',
    subject: { commonName: `${name} Issuing CA` },
    publicKey: interKeys.publicKey,
    signer: root,
    now,
    lifetimeSeconds: 1825 * DAY,
  });
  return { root, intermediate: { certificate: interCert, keys: interKeys } };
}

export async function issueDevice(
  pki: TestPki,
  commonName: string,
  options: { now?: Date; lifetimeSeconds?: number; keys?: KeyPair } = {},
): Promise<{ certificate: Certificate; keys: KeyPair }> {
  const keys = options.keys ?? (await generateKeyPair());
  const certificate = await issueCertificate({
    profile: 'device-client',
    subject: { commonName },
    publicKey: keys.publicKey,
    signer: pki.intermediate,
    now: options.now ?? new Date(),
    lifetimeSeconds: options.lifetimeSeconds ?? 30 * DAY,
  });
  return { certificate, keys };
}
