/**
 * The running CA: the pinned root, and the issuing intermediate behind the two signing seams
 * (certificates, CRLs). Loaded once at `serve` start: the intermediate's key is decrypted and
 * imported here, once, and every signature after that reuses it.
 */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { readCertificate, type Certificate } from '../../shared/pki/certificate.js';
import { importPrivateKeyPem } from '../../shared/pki/key-pair.js';
import type { DataLayout } from '../config/data-layout.js';
import type { CertificateIssuer } from './certificate-issuer.js';
import type { CrlSigner } from './crl-signer.js';
import { FastCrlSigner } from './fast-crl-signer.js';
import { PeculiarCrlSigner } from './peculiar-crl-signer.js';
import { FastIssuer } from './fast-issuer.js';
import { PeculiarIssuer } from './peculiar-issuer.js';

/** Which implementation signs device certificates: the fast DER one, or the @peculiar/x509 reference. */
export const ISSUER_KINDS = ['fast', 'peculiar'] as const;
export type IssuerKind = (typeof ISSUER_KINDS)[number];

export interface Authority {
  readonly root: Certificate;
  /** Signs device and server certificates; `issuer.certificate` is the issuing CA. */
  readonly issuer: CertificateIssuer;
  /** Signs the issuing CA's CRL. */
  readonly crlSigner: CrlSigner;
}

export async function loadAuthority(layout: DataLayout, passphrase: string, issuerKind: IssuerKind = 'fast'): Promise<Authority> {
  const read = async (path: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new FleetcertError('ca_missing', `no CA in ${layout.root} (${path} is missing)`, { hint: 'run "fleetcert init" first' });
      }
      throw err;
    }
  };
  const root = readCertificate(await read(layout.rootCert));
  const certificate = readCertificate(await read(layout.intermediateCert));
  let keys;
  try {
    keys = await importPrivateKeyPem(await read(layout.intermediateKey), passphrase);
  } catch (err) {
    if (err instanceof FleetcertError && err.code === 'key_decrypt_failed') {
      throw new FleetcertError('key_decrypt_failed', `cannot decrypt ${layout.intermediateKey}: wrong CA passphrase`, {
        cause: err,
        hint: 'give the passphrase used at "fleetcert init" (--passphrase-file or FLEETCERT_CA_PASSPHRASE)',
      });
    }
    throw err;
  }
  // The implementations behind the seams: the place to choose a faster or hardware-backed one.
  const ca = { certificate, keys };
  // Both issuers apply the same profiles byte for byte (fast-issuer-differential.test.ts); the
  // reference stays selectable for comparison (`serve --issuer peculiar`, scripts/bench.mjs).
  const issuer = issuerKind === 'fast' ? new FastIssuer(ca) : new PeculiarIssuer(ca);
  // The CRL likewise (fast-crl-signer-differential.test.ts): a fleet's CRL holds about one entry per device.
  const crlSigner = issuerKind === 'fast' ? new FastCrlSigner(ca) : new PeculiarCrlSigner(ca);
  return { root, issuer, crlSigner };
}
