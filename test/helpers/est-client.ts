/** A minimal EST client over node:https for tests: raw status, headers and body. */
import { request } from 'node:https';
import { certificatesToPem, describeCertificate } from '#shared/pki/certificate.js';
import { buildCsr } from '#shared/pki/csr.js';
import { exportPrivateKeyPem, generateKeyPair, type KeyPair } from '#shared/pki/key-pair.js';
import { decodeCertsOnly } from '#shared/pki/pkcs7.js';
import { EST_PATHS } from '#shared/protocol/est.js';

export interface EstResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The body as JSON, when it is JSON. */
  readonly json: { code?: string; message?: string; retryAfterSeconds?: number } | undefined;
}

export interface EstRequest {
  readonly path: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: string | Uint8Array;
  readonly contentType?: string;
  readonly token?: string;
  readonly headers?: Record<string, string>;
  /** Client certificate chain and key (PEM) for mTLS. */
  readonly cert?: string;
  readonly key?: string;
}

export function est(server: { port: number; rootPem: string }, req: EstRequest): Promise<EstResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.contentType !== undefined) headers['content-type'] = req.contentType;
    if (req.token !== undefined) headers.authorization = `Basic ${Buffer.from(`device:${req.token}`).toString('base64')}`;
    const r = request(
      {
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        path: req.path,
        method: req.method ?? 'POST',
        headers,
        ca: server.rootPem,
        ...(req.cert ? { cert: req.cert, key: req.key } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          let json;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    r.on('error', reject);
    r.end(req.body ?? '');
  });
}

/** A fresh key and a base64 CSR for a device id: what an agent would send. */
export async function deviceCsr(commonName: string, keys?: KeyPair): Promise<{ keys: KeyPair; body: string }> {
  const k = keys ?? (await generateKeyPair());
  const csr = await buildCsr({ keys: k, commonName });
  return { keys: k, body: Buffer.from(csr.der).toString('base64') };
}

export interface EnrolledDevice {
  readonly id: string;
  readonly keys: KeyPair;
  /** Certificate + issuing CA, PEM: what a TLS client presents. */
  readonly chainPem: string;
  readonly keyPem: string;
  readonly serial: string;
}

/** A real enrollment over EST: what an agent ends up with on disk. */
export async function enrollDevice(server: { port: number; rootPem: string }, token: string, id: string): Promise<EnrolledDevice> {
  const csr = await deviceCsr(id);
  const res = await est(server, { path: EST_PATHS.simpleEnroll, token, contentType: 'application/pkcs10', body: csr.body });
  if (res.status !== 200) throw new Error(`enrollment of ${id} failed: ${res.status} ${res.body}`);
  const chain = decodeCertsOnly(Buffer.from(res.body, 'base64'));
  return {
    id,
    keys: csr.keys,
    chainPem: certificatesToPem(chain),
    keyPem: await exportPrivateKeyPem(csr.keys),
    serial: describeCertificate(chain[0]!).serialNumber,
  };
}
