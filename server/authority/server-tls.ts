/**
 * The server's own TLS certificates (the EST endpoint's and the broker's): issued by `init`,
 * renewed by `serve` before they expire (server-tls-renewer.ts). A renewal keeps the subject,
 * the names (SANs) and the key type of the certificate it replaces, with a new key. The key stays
 * unencrypted (Mosquitto cannot ask for a passphrase) and 0600; `broker-config` and the renewer
 * copy the broker's with the modes Mosquitto needs.
 */
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import {
  certificatesToPem,
  describeCertificate,
  readCertificates,
  readCertificate,
  type CertificateInfo,
} from '../../shared/pki/certificate.js';
import {
  DEFAULT_KEY_TYPE,
  exportPrivateKeyPem,
  exportPublicKeySpki,
  generateKeyPair,
  keyTypeOf,
  type KeyType,
} from '../../shared/pki/key-pair.js';
import { toX509 } from '../../shared/pki/x509-provider.js';
import type { TlsFiles } from '../config/data-layout.js';
import type { CertificateIssuer } from './certificate-issuer.js';
import type { SubjectName } from './certificate-profiles.js';

export const SERVER_TLS_LIFETIME_SECONDS = 365 * 86_400;

export interface ServerTlsRequest {
  readonly subject: SubjectName;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly keyType: KeyType;
  readonly now: Date;
  readonly lifetimeSeconds: number;
}

/** The PEMs a TLS server is configured with: the certificate then the issuing CA, and the key. */
export interface ServerTlsPems {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What serve's HTTPS listeners (EST, console) are given: their certificate and key, and the CAs client certificates chain to. */
export interface ServerTlsContext extends ServerTlsPems {
  readonly caPems: readonly string[];
}

/**
 * The TLS options of those listeners: a client certificate is asked for but not required (EST's
 * simpleenroll and a browser with a password do without; the handler checks what was presented),
 * TLS 1.2 at least, and a bounded handshake and header size.
 */
export function clientCertHttpsOptions(tls: ServerTlsContext, handshakeTimeoutMs: number): HttpsServerOptions {
  return {
    cert: tls.certPem,
    key: tls.keyPem,
    ca: [...tls.caPems],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    handshakeTimeout: handshakeTimeoutMs,
    maxHeaderSize: 16 * 1024,
  };
}

/** Issues a server certificate and its key, in memory. */
export async function issueServerTls(
  issuer: CertificateIssuer,
  request: ServerTlsRequest,
): Promise<ServerTlsPems & { info: CertificateInfo }> {
  const keys = await generateKeyPair(request.keyType);
  const issued = await issuer.issue({
    profile: 'tls-server',
    subject: request.subject,
    publicKeySpki: await exportPublicKeySpki(keys),
    now: request.now,
    lifetimeSeconds: request.lifetimeSeconds,
    dnsNames: request.dnsNames,
    ipAddresses: request.ipAddresses,
  });
  const cert = readCertificate(issued.der);
  return {
    certPem: certificatesToPem([cert, issuer.certificate]),
    keyPem: await exportPrivateKeyPem(keys),
    info: describeCertificate(cert),
  };
}

/** Writes the pair, the key first: each file is replaced atomically. */
export async function writeServerTls(files: TlsFiles, pems: ServerTlsPems): Promise<void> {
  await writeFileAtomic(files.key, pems.keyPem, { mode: 0o600 });
  await writeFileAtomic(files.cert, pems.certPem);
}

export async function readServerTls(files: TlsFiles): Promise<ServerTlsPems & { info: CertificateInfo }> {
  const certPem = await readFile(files.cert, 'utf8');
  const keyPem = await readFile(files.key, 'utf8');
  return { certPem, keyPem, info: describeCertificate(readCertificates(certPem)[0]!) };
}

/**
 * Whether a server certificate should be replaced now (pure): once less than a third of the
 * configured lifetime is left, or when it outlives what serve is told to issue (the operator
 * shortened the lifetime: converge now rather than in a year).
 */
export function serverTlsDue(notAfter: Date, now: Date, lifetimeSeconds: number): boolean {
  const leftMs = notAfter.getTime() - now.getTime();
  return leftMs < (lifetimeSeconds * 1000) / 3 || leftMs > lifetimeSeconds * 1000 + 60_000;
}

/** What a renewal of `current` asks for: its subject, names and key type, a new key. */
export function renewalRequest(current: ServerTlsPems, now: Date, lifetimeSeconds: number): ServerTlsRequest {
  const cert = readCertificates(current.certPem)[0]!;
  const info = describeCertificate(cert);
  const organization = toX509(cert).subjectName.getField('O')[0];
  return {
    subject: { commonName: info.subjectCommonName ?? info.dnsNames[0] ?? 'localhost', ...(organization ? { organization } : {}) },
    dnsNames: info.dnsNames,
    ipAddresses: info.ipAddresses,
    keyType: keyTypeOf(createPrivateKey(current.keyPem)) ?? DEFAULT_KEY_TYPE,
    now,
    lifetimeSeconds,
  };
}
