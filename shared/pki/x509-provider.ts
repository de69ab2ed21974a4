/**
 * The only module that imports @peculiar/x509. It must load `reflect-metadata` first (the
 * library's ASN.1 schemas use decorators) and it injects Node's own WebCrypto as the crypto
 * provider: measured faster than @peculiar/webcrypto, which re-imports the CA key on every
 * signature. `node:crypto`'s `webcrypto` export works on Node 18 as well as 20+, where the
 * global `crypto` may be absent.
 */
// oxlint-disable-next-line import/no-unassigned-import -- @peculiar/x509's decorators need the polyfill loaded first
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

export const subtle = webcrypto.subtle;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

// WebCrypto types from node:crypto, so no DOM lib is needed.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcdsaParams = webcrypto.EcdsaParams;
export type Algorithm = webcrypto.Algorithm;
export type RsaHashedImportParams = webcrypto.RsaHashedImportParams;
export type EcKeyImportParams = webcrypto.EcKeyImportParams;
