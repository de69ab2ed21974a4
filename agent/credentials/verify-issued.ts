/**
 * Before anything is installed: the issued certificate must certify our key, carry our device
 * id, chain to the pinned root and be valid now. "Not yet valid" means the clock is wrong.
 */
import { FleetcertError, isFleetcertError } from '../../shared/errors.js';
import { certificateMatchesKey, describeCertificate, type Certificate } from '../../shared/pki/certificate.js';
import type { KeyPair } from '../../shared/pki/key-pair.js';
import { verifyChain } from '../../shared/pki/verify-chain.js';

export interface IssuedCheck {
  readonly chain: readonly Certificate[];
  readonly keys: KeyPair;
  readonly deviceId: string;
  readonly root: Certificate;
  readonly now: Date;
}

export async function verifyIssued(check: IssuedCheck): Promise<Certificate> {
  const [leaf, ...intermediates] = check.chain;
  if (!leaf) throw new FleetcertError('issued_certificate_invalid', 'the server returned no certificate');
  if (!(await certificateMatchesKey(leaf, check.keys))) {
    throw new FleetcertError('issued_certificate_invalid', "the issued certificate is not for this device's key");
  }
  const cn = describeCertificate(leaf).subjectCommonName;
  if (cn !== check.deviceId)
    throw new FleetcertError('issued_certificate_invalid', `the issued certificate is for "${cn}", not "${check.deviceId}"`);
  try {
    await verifyChain({ leaf, intermediates, roots: [check.root], now: check.now });
  } catch (err) {
    if (isFleetcertError(err, 'cert_not_yet_valid')) {
      throw new FleetcertError(
        'clock_not_set',
        `the new certificate is not valid yet at ${check.now.toISOString()}: the device clock is wrong`,
        { cause: err },
      );
    }
    throw new FleetcertError('issued_certificate_invalid', `the issued certificate does not verify: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return leaf;
}
