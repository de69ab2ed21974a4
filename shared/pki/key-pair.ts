/**
 * Key pairs: generation on this machine, PKCS#8 PEM export (optionally encrypted with a
 * passphrase, AES-256-CBC under PBKDF2 as OpenSSL writes it) and import. WebCrypto
 * CryptoKeys are what the signing code uses; node:crypto handles the PEM/PKCS#8 encryption
 * that WebCrypto lacks.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { FleetcertError } from '../errors.js';
import {
  subtle,
  type Algorithm,
  type CryptoKey,
  type CryptoKeyPair,
  type EcdsaParams,
  type EcKeyImportParams,
  type RsaHashedImportParams,
} from './webcrypto.js';

export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ec-p256';

export type SigningAlgorithm = EcdsaParams | (Algorithm & { hash?: string });

/** WebCrypto parameters for generating/importing a key of this type and signing with it. */
export function keyAlgorithm(type: KeyType): RsaHashedImportParams | EcKeyImportParams {
  switch (type) {
    case 'ec-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ec-p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    case 'rsa-2048':
    case 'rsa-3072':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
}

export function signingAlgorithm(type: KeyType): SigningAlgorithm {
  switch (type) {
    case 'ec-p256':
      return { name: 'ECDSA', hash: 'SHA-256' };
    case 'ec-p384':
      return { name: 'ECDSA', hash: 'SHA-384' };
    case 'rsa-2048':
    case 'rsa-3072':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
}

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export interface KeyPair {
  readonly type: KeyType;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

export async function generateKeyPair(type: KeyType = DEFAULT_KEY_TYPE): Promise<KeyPair> {
  const params =
    type === 'rsa-2048' || type === 'rsa-3072'
      ? {
          ...keyAlgorithm(type),
          modulusLength: type === 'rsa-2048' ? 2048 : 3072,
          publicExponent: new Uint8Array([1, 0, 1]),
        }
      : keyAlgorithm(type);
  const pair = (await subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { type, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/**
 * PKCS#8 PEM of the private key. With a passphrase: `ENCRYPTED PRIVATE KEY` (PBES2,
 * AES-256-CBC), which openssl and mosquitto can read given the passphrase.
 */
export async function exportPrivateKeyPem(key: KeyPair, passphrase?: string): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key.privateKey));
  const object = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  if (passphrase === undefined) return object.export({ format: 'pem', type: 'pkcs8' }) as string;
  if (passphrase.length === 0) {
    throw new FleetcertError('passphrase_missing', 'refusing to encrypt a key with an empty passphrase');
  }
  return object.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }) as string;
}

/** Reads a PKCS#8/SEC1/PKCS#1 private key PEM (encrypted or not) into a usable key pair. */
export async function importPrivateKeyPem(pem: string, passphrase?: string): Promise<KeyPair> {
  let object: KeyObject;
  try {
    object = createPrivateKey({ key: pem, format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (err) {
    const encrypted = pem.includes('ENCRYPTED');
    throw new FleetcertError(
      encrypted ? 'key_decrypt_failed' : 'pem_invalid',
      encrypted ? 'could not decrypt the private key: wrong or missing passphrase' : 'not a readable private key PEM',
      { cause: err },
    );
  }
  const type = keyTypeOf(object);
  if (type === undefined) {
    throw new FleetcertError('key_unsupported', `unsupported private key type ${describeKeyObject(object)}`);
  }
  const algorithm = keyAlgorithm(type);
  const pkcs8 = object.export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(object).export({ format: 'der', type: 'spki' });
  const privateKey = await subtle.importKey('pkcs8', pkcs8, algorithm, true, ['sign']);
  pkcs8.fill(0);
  const publicKey = await subtle.importKey('spki', spki, algorithm, true, ['verify']);
  return { type, privateKey, publicKey };
}

/** DER SubjectPublicKeyInfo of a key pair's public half. */
export async function exportPublicKeySpki(key: KeyPair): Promise<Uint8Array> {
  return new Uint8Array(await subtle.exportKey('spki', key.publicKey));
}

/** Maps a node KeyObject (private or public) to one of our key types, if it is one. */
export function keyTypeOf(object: KeyObject): KeyType | undefined {
  const details = object.asymmetricKeyDetails ?? {};
  if (object.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ec-p256';
    if (details.namedCurve === 'secp384r1') return 'ec-p384';
    return undefined;
  }
  if (object.asymmetricKeyType === 'rsa') {
    if (details.modulusLength === 2048) return 'rsa-2048';
    if (details.modulusLength === 3072) return 'rsa-3072';
  }
  return undefined;
}

export function describeKeyObject(object: KeyObject): string {
  const details = object.asymmetricKeyDetails ?? {};
  const size = details.namedCurve ?? (details.modulusLength === undefined ? '' : String(details.modulusLength));
  return `${object.asymmetricKeyType ?? 'unknown'}${size ? ` ${size}` : ''}`;
}

/**
 * Imports a DER SubjectPublicKeyInfo (e.g. from a CSR that passed the key policy) as a
 * WebCrypto verify key: what issuing needs as the certified public key.
 */
export async function importPublicKeySpki(spki: Uint8Array): Promise<CryptoKey> {
  const object = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const details = object.asymmetricKeyDetails ?? {};
  let algorithm: RsaHashedImportParams | EcKeyImportParams;
  if (object.asymmetricKeyType === 'ec' && (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1')) {
    algorithm = { name: 'ECDSA', namedCurve: details.namedCurve === 'prime256v1' ? 'P-256' : 'P-384' };
  } else if (object.asymmetricKeyType === 'rsa') {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw new FleetcertError('key_unsupported', `cannot use a ${describeKeyObject(object)} public key`);
  }
  return subtle.importKey('spki', Buffer.from(spki), algorithm, true, ['verify']);
}
