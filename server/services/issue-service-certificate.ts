/**
 * `fleetcert service issue|renew`: client credentials (server/pki/issue-client-credentials.ts) from
 * the `service-client` profile (CN `service:<name>`, O fleetcert services). A new key every time,
 * as devices re-key on every renewal. The caller seals the key into a PKCS#12 or writes it 0600.
 */
import { certificatesToPem } from '../../shared/pki/certificate.js';
import type { Authority } from '../authority/authority.js';
import { issueClientCredentials } from '../pki/issue-client-credentials.js';
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
  const credentials = await issueClientCredentials({
    authority: p.authority,
    profile: 'service-client',
    subject: { commonName: serviceCommonName(p.name), organization: SERVICE_ORGANIZATION },
    lifetimeSeconds: p.lifetimeSeconds,
    now: p.now,
  });
  return {
    serial: credentials.serial,
    notAfter: credentials.notAfter,
    keyPem: credentials.keyPem,
    certPem: certificatesToPem(credentials.chain),
    caPem: certificatesToPem([p.authority.root, p.authority.issuer.certificate]),
  };
}
