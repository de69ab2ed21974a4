/**
 * Node's own WebCrypto and its types, apart from @peculiar/x509: key generation and import need
 * no ASN.1 library, and the agent's `run` path must not load one (issue 15: idle memory on a
 * board). `node:crypto`'s `webcrypto` export works on Node 18 as well as 20+, where the global
 * `crypto` may be absent. No DOM lib is needed for the types.
 */
import { webcrypto } from 'node:crypto';

export { webcrypto };
export const subtle = webcrypto.subtle;

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcdsaParams = webcrypto.EcdsaParams;
export type Algorithm = webcrypto.Algorithm;
export type RsaHashedImportParams = webcrypto.RsaHashedImportParams;
export type EcKeyImportParams = webcrypto.EcKeyImportParams;
