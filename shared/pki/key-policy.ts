/**
 * Which public keys we accept from the network (CSRs): EC P-256/P-384 and RSA 2048-4096
 * with a sane exponent. Anything weaker is `key_too_weak`; anything else (other curves,
 * Ed25519, RSA above 4096 — a cheap way to make the server burn CPU) is `key_unsupported`.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
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
  const named = namedCurveKey(spki);
  let object: KeyObject;
  try {
    object = named
      ? createPublicKey({ key: named.jwk, format: 'jwk' })
      : createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (err) {
    throw new FleetcertError('csr_invalid', 'the public key is not a valid SubjectPublicKeyInfo', { cause: err });
  }
  return { object, description: named?.description ?? describeAcceptable(object) };
}

/**
 * The exact DER prefixes of a P-256 and a P-384 SubjectPublicKeyInfo with an uncompressed point
 * (what every device sends): SEQUENCE { SEQUENCE { ecPublicKey, curve }, BIT STRING 00 04 ... }.
 */
const EC_SPKI_PREFIXES = [
  { prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex'), crv: 'P-256', size: 32 },
  { prefix: Buffer.from('3076301006072a8648ce3d020106052b8104002203620004', 'hex'), crv: 'P-384', size: 48 },
] as const;

/**
 * A P-256 or P-384 key given as its coordinates: OpenSSL 3 imports a JWK in half the CPU of the
 * same key as DER (its decoder framework; ~47 against ~92 µs here), on every enrollment. The
 * point is still checked to lie on the curve by the import; any other encoding takes the DER path.
 */
function namedCurveKey(spki: Uint8Array): { jwk: JsonWebKey; description: PublicKeyDescription } | undefined {
  const bytes = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  for (const { prefix, crv, size } of EC_SPKI_PREFIXES) {
    if (bytes.length !== prefix.length + 2 * size || !bytes.subarray(0, prefix.length).equals(prefix)) continue;
    const x = bytes.subarray(prefix.length, prefix.length + size).toString('base64url');
    const y = bytes.subarray(prefix.length + size).toString('base64url');
    return { jwk: { kty: 'EC', crv, x, y }, description: { algorithm: 'ec', size: crv } };
  }
  return undefined;
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
