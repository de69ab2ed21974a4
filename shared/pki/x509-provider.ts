/**
 * The only module that imports @peculiar/x509. It must load `reflect-metadata` first (the
 * library's ASN.1 schemas use decorators) and it injects Node's own WebCrypto as the crypto
 * provider: measured faster than @peculiar/webcrypto, which re-imports the CA key on every
 * signature. The agent reaches it only through dynamic `import()` (enrolling, renewing): loaded,
 * it costs a board ~12 MiB of resident memory that an idle agent does not need.
 */
// oxlint-disable-next-line import/no-unassigned-import -- @peculiar/x509's decorators need the polyfill loaded first
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { Certificate } from './certificate.js';
import { webcrypto } from './webcrypto.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export { subtle, type Algorithm, type CryptoKey, type CryptoKeyPair, type EcdsaParams } from './webcrypto.js';
export type { EcKeyImportParams, RsaHashedImportParams } from './webcrypto.js';

const twins = new WeakMap<Certificate, x509.X509Certificate>();

/** The library's view of a certificate read by `readCertificate` (signatures, extensions), made once per certificate. */
export function toX509(cert: Certificate): x509.X509Certificate {
  let twin = twins.get(cert);
  if (!twin) {
    twin = new x509.X509Certificate(cert.rawData);
    twins.set(cert, twin);
  }
  return twin;
}
