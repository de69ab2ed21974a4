/**
 * The running CA: the pinned root, the issuing intermediate with its decrypted key, and the
 * one function that signs device certificates. Loaded once at `serve` start.
 */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { readCertificate, type Certificate, type Signer } from '../../shared/pki/certificate.js';
import { issueCertificate } from '../../shared/pki/issue-certificate.js';
import { importPrivateKeyPem, importPublicKeySpki } from '../../shared/pki/key-pair.js';
import type { DataLayout } from '../config/data-layout.js';

export interface Authority {
  readonly root: Certificate;
  readonly issuer: Signer;
}

export async function loadAuthority(layout: DataLayout, passphrase: string): Promise<Authority> {
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
  return { root, issuer: { certificate, keys } };
}

export interface DeviceCertificateRequest {
  readonly deviceId: string;
  readonly publicKeySpki: Uint8Array;
  readonly now: Date;
  readonly lifetimeSeconds: number;
  /** How far notBefore is set back for devices whose clock lags (default 5 min). */
  readonly backdateSeconds?: number;
}

/** A device-client certificate: the CSR contributes its key and nothing else. */
export async function issueDeviceCertificate(authority: Authority, request: DeviceCertificateRequest): Promise<Certificate> {
  return issueCertificate({
    profile: 'device-client',
    subject: { commonName: request.deviceId },
    publicKey: await importPublicKeySpki(request.publicKeySpki),
    signer: authority.issuer,
    now: request.now,
    lifetimeSeconds: request.lifetimeSeconds,
    ...(request.backdateSeconds === undefined ? {} : { backdateSeconds: request.backdateSeconds }),
  });
}
