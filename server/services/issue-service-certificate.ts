/**
 * `fleetcert service issue|renew`: a key made here and a `service-client` certificate for it from
 * the issuing CA (CN `service:<name>`, O fleetcert services). A new key every time, as devices
 * re-key on every renewal. The caller seals the key into a PKCS#12 or writes it 0600.
 */
import { certificatesToPem, readCertificate } from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair } from '../../shared/pki/key-pair.js';
import type { Authority } from '../authority/authority.js';
import { SERVICE_ORGANIZATION, serviceCommonName } from './service-identity.js';

export interface ServiceCredentials {
  readonly serial: string;
  readonly notAfter: Date;
  readonly keyPem: string;
  /** The service's certificate then the issuing CA (what it presents). */
  readonly certPem: string;
  /** Root and issuing CA: what it verifies the broker with. */
  readonly caPem: string;
}

export async function issueServiceCertificate(p: {
  authority: Authority;
  name: string;
  lifetimeSeconds: number;
  now: Date;
}): Promise<ServiceCredentials> {
  const keys = await generateKeyPair();
  const issued = await p.authority.issuer.issue({
    profile: 'service-client',
    subject: { commonName: serviceCommonName(p.name), organization: SERVICE_ORGANIZATION },
    publicKeySpki: await exportPublicKeySpki(keys),
    now: p.now,
    lifetimeSeconds: p.lifetimeSeconds,
  });
  return {
    serial: issued.serial,
    notAfter: issued.notAfter,
    keyPem: await exportPrivateKeyPem(keys),
    certPem: certificatesToPem([readCertificate(issued.der), p.authority.issuer.certificate]),
    caPem: certificatesToPem([p.authority.root, p.authority.issuer.certificate]),
  };
}
