/**
 * Creates the server's PKI in an empty data directory: a root CA (10 y) and an issuing
 * intermediate CA (5 y) with passphrase-encrypted keys, plus TLS certificates for the broker
 * and the enrollment endpoint. Everything is written into a staging directory first and
 * moved into place with renames, `ca/` last: a crash leaves either no CA or a complete one.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { pathExists } from '../../shared/fs/path-exists.js';
import { join } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { ensureDirectory, syncDirectory, writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import {
  certificatesToPem,
  certificateToPem,
  describeCertificate,
  readCertificate,
  type CertificateInfo,
} from '../../shared/pki/certificate.js';
import { exportPrivateKeyPem, exportPublicKeySpki, generateKeyPair, type KeyType } from '../../shared/pki/key-pair.js';
import { dataLayout, type DataLayout, type TlsFiles } from '../config/data-layout.js';
import type { CertificateIssuer } from './certificate-issuer.js';
import { issueRootCertificate, PeculiarIssuer } from './peculiar-issuer.js';
import type { ServerNames } from './server-names.js';
import { issueServerTls, SERVER_TLS_LIFETIME_SECONDS, writeServerTls } from './server-tls.js';

const DAY = 24 * 3600;
export const ROOT_LIFETIME_SECONDS = 3650 * DAY;
export const INTERMEDIATE_LIFETIME_SECONDS = 1825 * DAY;

export interface InitParams {
  readonly layout: DataLayout;
  readonly passphrase: string;
  readonly names: ServerNames;
  readonly now: Date;
  readonly keyType: KeyType;
  /** Prefix of the CA names ("<name> Root CA") and the O= attribute. */
  readonly caName: string;
  /** Write the encrypted root key here instead of into the data directory (offline root). */
  readonly rootKeyOut?: string | undefined;
}

export interface InitResult {
  readonly root: CertificateInfo;
  readonly intermediate: CertificateInfo;
  readonly broker: CertificateInfo;
  readonly enroll: CertificateInfo;
  readonly rootKeyPath: string;
}

export async function initAuthority(params: InitParams): Promise<InitResult> {
  const { layout, now, keyType, caName, passphrase } = params;
  if (await pathExists(layout.caDir)) {
    throw new FleetcertError('ca_exists', `a CA already exists in ${layout.caDir}; refusing to overwrite it`, {
      hint: 'every certificate issued so far depends on it; to start over on purpose, move that directory away first',
    });
  }
  if (params.rootKeyOut !== undefined && (await pathExists(params.rootKeyOut))) {
    throw new FleetcertError('file_exists', `${params.rootKeyOut} already exists; refusing to overwrite it`);
  }

  // Four signatures, once: the reference issuer signs them whichever issuer `serve` uses for devices.
  const rootKeys = await generateKeyPair(keyType);
  const rootIssued = await issueRootCertificate(rootKeys, {
    subject: { commonName: `${caName} Root CA`, organization: caName },
    now,
    lifetimeSeconds: ROOT_LIFETIME_SECONDS,
  });
  const rootCert = readCertificate(rootIssued.der);
  const interKeys = await generateKeyPair(keyType);
  const interIssued = await new PeculiarIssuer({ certificate: rootCert, keys: rootKeys }).issue({
    profile: 'intermediate-ca',
    subject: { commonName: `${caName} Issuing CA`, organization: caName },
    publicKeySpki: await exportPublicKeySpki(interKeys),
    now,
    lifetimeSeconds: INTERMEDIATE_LIFETIME_SECONDS,
  });
  const interCert = readCertificate(interIssued.der);
  const intermediate = new PeculiarIssuer({ certificate: interCert, keys: interKeys });

  await ensureDirectory(layout.root, 0o700);
  // Same layout, rooted in a staging directory: moved into place with two renames.
  const staging = dataLayout(join(layout.root, `.init-${randomBytes(4).toString('hex')}`));
  try {
    await ensureDirectory(staging.caDir, 0o700);
    await ensureDirectory(staging.tlsDir, 0o700);
    await writeFileAtomic(staging.rootCert, certificateToPem(rootCert));
    await writeFileAtomic(staging.intermediateCert, certificateToPem(interCert));
    await writeFileAtomic(staging.chain, certificatesToPem([interCert, rootCert]));
    await writeFileAtomic(staging.intermediateKey, await exportPrivateKeyPem(interKeys, passphrase), { mode: 0o600 });
    const rootKeyPem = await exportPrivateKeyPem(rootKeys, passphrase);
    if (params.rootKeyOut === undefined) {
      await writeFileAtomic(staging.rootKey, rootKeyPem, { mode: 0o600 });
    }
    const broker = await issueInitialServerTls(intermediate, params, staging.brokerTls);
    const enroll = await issueInitialServerTls(intermediate, params, staging.enrollTls);
    await syncDirectory(staging.caDir);
    await syncDirectory(staging.tlsDir);

    // The offline root key goes out before the CA goes live: never a CA whose root key is lost.
    if (params.rootKeyOut !== undefined) {
      await writeFileAtomic(params.rootKeyOut, rootKeyPem, { mode: 0o600, exclusive: true });
    }
    await rm(layout.tlsDir, { recursive: true, force: true }); // a crashed earlier init's leftovers
    await rename(staging.tlsDir, layout.tlsDir);
    await rename(staging.caDir, layout.caDir);
    await syncDirectory(layout.root);
    return {
      root: describeCertificate(rootCert),
      intermediate: describeCertificate(interCert),
      broker,
      enroll,
      rootKeyPath: params.rootKeyOut ?? layout.rootKey,
    };
  } finally {
    await rm(staging.root, { recursive: true, force: true });
  }
}

/** A TLS server certificate for this host, written into the staging directory. */
async function issueInitialServerTls(issuer: CertificateIssuer, params: InitParams, files: TlsFiles): Promise<CertificateInfo> {
  const issued = await issueServerTls(issuer, {
    subject: { commonName: params.names.dnsNames[0] ?? 'localhost', organization: params.caName },
    dnsNames: params.names.dnsNames,
    ipAddresses: params.names.ipAddresses,
    keyType: params.keyType,
    now: params.now,
    lifetimeSeconds: SERVER_TLS_LIFETIME_SECONDS,
  });
  await writeServerTls(files, issued);
  return issued.info;
}
