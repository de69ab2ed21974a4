/**
 * A key made here and a client certificate for it from the issuing CA: what `admin issue` and
 * `service issue|renew` both hand out (a new key every time). The key exists unencrypted only in
 * this process; the caller seals it (PKCS#12) or writes it 0600.
 */
import { FleetcertError } from '../../shared/errors.js';
import { readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair } from '../../shared/pki/key-pair.js';
import type { Authority } from '../authority/authority.js';
import type { CertificateProfile, SubjectName } from '../authority/certificate-profiles.js';

export interface ClientCredentials {
  readonly serial: string;
  readonly notAfter: Date;
  readonly keyPem: string;
  /** The new certificate, then the issuing CA (what the client presents). */
  readonly chain: readonly Certificate[];
}

export async function issueClientCredentials(p: {
  authority: Authority;
  profile: CertificateProfile;
  subject: SubjectName;
  lifetimeSeconds: number;
  now: Date;
}): Promise<ClientCredentials> {
  const keys = await generateKeyPair();
  const issued = await p.authority.issuer.issue({
    profile: p.profile,
    subject: p.subject,
    publicKeySpki: await exportPublicKeySpki(keys),
    now: p.now,
    lifetimeSeconds: p.lifetimeSeconds,
  });
  return {
    serial: issued.serial,
    notAfter: issued.notAfter,
    keyPem: await exportPrivateKeyPem(keys),
    chain: [readCertificate(issued.der), p.authority.issuer.certificate],
  };
}

/** The name rule admins and services share: 1-32 of a-z 0-9 . _ -, starting with a letter (never a device id: no colon). */
const CLIENT_NAME = /^[a-z][a-z0-9._-]{0,31}$/;

function isClientName(name: string): boolean {
  return CLIENT_NAME.test(name);
}

/** An admin's or a service's name as given on the command line, or a usage error saying the rule. */
export function parseClientName(kind: 'admin' | 'service', name: string): string {
  if (!isClientName(name)) {
    throw new FleetcertError(
      'usage',
      `${kind} name ${JSON.stringify(name.slice(0, 40))} must be 1-32 of a-z 0-9 . _ - starting with a letter`,
    );
  }
  return name;
}
