/**
 * Which public keys we accept from the network (CSRs): EC P-256/P-384 and RSA 2048-4096
 * with a sane exponent. Anything weaker is `key_too_weak`; anything else (other curves,
 * Ed25519, RSA above 4096 — a cheap way to make the server burn CPU) is `key_unsupported`.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { FleetcertError } from '../errors.js';
import { describeKeyObject } from './key-pair.js';

export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 4096;

export interface PublicKeyDescription {
  readonly algorithm: 'ec' | 'rsa';
  /** Curve name (P-256, P-384) or RSA modulus length. */
  readonly size: string;
}

/** A public key from the network checked against the policy, returned imported: a caller that verifies with it imports it once. */
export function readAcceptablePublicKey(spki: Uint8Array): { readonly object: KeyObject; readonly description: PublicKeyDescription } {
  let object: KeyObject;
  try {
    object = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (err) {
    throw new FleetcertError('csr_invalid', 'the public key is not a valid SubjectPublicKeyInfo', { cause: err });
  }
  return { object, description: describeAcceptable(object) };
}

function describeAcceptable(object: KeyObject): PublicKeyDescription {
  const details = object.asymmetricKeyDetails ?? {};
  if (object.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return { algorithm: 'ec', size: 'P-256' };
    if (details.namedCurve === 'secp384r1') return { algorithm: 'ec', size: 'P-384' };
    throw new FleetcertError('key_unsupported', `EC curve ${details.namedCurve ?? 'unknown'} is not supported`);
  }
  if (object.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new FleetcertError('key_too_weak', `RSA key of ${bits} bits is below ${MIN_RSA_BITS}`);
    if (bits > MAX_RSA_BITS) throw new FleetcertError('key_unsupported', `RSA key of ${bits} bits is above ${MAX_RSA_BITS}`);
    const e = details.publicExponent ?? 0n;
    if (e < 65537n || e % 2n === 0n) throw new FleetcertError('key_too_weak', `RSA public exponent ${e} is not allowed`);
    return { algorithm: 'rsa', size: String(bits) };
  }
  throw new FleetcertError('key_unsupported', `key type ${describeKeyObject(object)} is not supported`);
}
