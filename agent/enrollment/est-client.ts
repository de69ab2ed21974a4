/**
 * The agent's EST client (RFC 7030) over node:https. Every response is bounded and parsed
 * into a typed outcome: issued (PKCS#7 chain), pending (202 + Retry-After) or refused (the
 * server's code). TLS failures are translated: a certificate "not yet valid" is reported as
 * the device clock being wrong, not as a trust problem. The server's Date header exposes
 * clock skew, which is logged.
 */
import { request } from 'node:https';
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { encodeMetadataHeader, METADATA_HEADER, type DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import type { RefusalCode } from '../../shared/protocol/error-codes.js';
import { CONTENT_TYPES, decodeBase64Body, errorBodySchema, EST_PATHS, MAX_EST_BODY_BYTES } from '../../shared/protocol/est.js';
import type { Certificate } from '../../shared/pki/certificate.js';
import { decodeCertsOnly } from '../../shared/pki/pkcs7.js';
import {
  MAX_RENEWAL_INFO_BYTES,
  RENEWAL_INFO_PATH,
  RENEWAL_INFO_RETRY_BOUNDS,
  renewalInfoSchema,
  type RenewalInfo,
} from '../../shared/protocol/renewal-info.js';
import { formatIssues } from '../../shared/format-issues.js';
import { clockSkew } from '../clock/clock-skew.js';
import { brokerLookup } from '../discovery/broker-lookup.js';

export interface EstEndpoint {
  /** `https://host:port` (host may be an address). */
  readonly url: string;
  /** Name the server certificate must carry when `url` holds an address (mDNS); Node checks it. */
  readonly servername?: string | undefined;
}

export type EnrollOutcome =
  { readonly kind: 'issued'; readonly chain: Certificate[] } | { readonly kind: 'pending'; readonly retryAfterSeconds: number } | Refused;

type Refused = {
  readonly kind: 'refused';
  readonly status: number;
  readonly code: RefusalCode;
  readonly message: string;
  readonly retryAfterSeconds: number | undefined;
};

export type RenewalInfoOutcome =
  { readonly kind: 'info'; readonly info: RenewalInfo; readonly retryAfterSeconds: number | undefined } | Refused;

export interface ClientCredentials {
  readonly certChainPem: string;
  readonly keyPem: string;
}

const TIMEOUT_MS = 30_000;

export class EstClient {
  constructor(
    private readonly endpoint: EstEndpoint,
    /** Trust anchors (PEM). Undefined only for the one unverified /cacerts of first contact. */
    private readonly caPem: string | undefined,
    private readonly log: Logger,
  ) {}

  async cacerts(): Promise<Certificate[]> {
    const res = await this.send('GET', EST_PATHS.cacerts, {});
    if (res.status !== 200) throw new FleetcertError('server_unreachable', `GET ${EST_PATHS.cacerts} answered ${res.status}`);
    return certsOnlyBody(res.body);
  }

  async simpleEnroll(token: string, csrDer: Uint8Array, metadata: DeviceMetadata): Promise<EnrollOutcome> {
    const headers = {
      'content-type': CONTENT_TYPES.pkcs10,
      authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}`,
      [METADATA_HEADER]: encodeMetadataHeader(metadata),
    };
    return outcome(await this.send('POST', EST_PATHS.simpleEnroll, headers, Buffer.from(csrDer).toString('base64'), undefined));
  }

  async simpleReenroll(csrDer: Uint8Array, client: ClientCredentials, metadata: DeviceMetadata): Promise<EnrollOutcome> {
    const headers = { 'content-type': CONTENT_TYPES.pkcs10, [METADATA_HEADER]: encodeMetadataHeader(metadata) };
    return outcome(await this.send('POST', EST_PATHS.simpleReenroll, headers, Buffer.from(csrDer).toString('base64'), client));
  }

  /** The server's renewal info for the certificate presented (fleetcert's ARI-like hint). */
  async renewalInfo(client: ClientCredentials): Promise<RenewalInfoOutcome> {
    const res = await this.send('GET', RENEWAL_INFO_PATH, { accept: CONTENT_TYPES.json }, undefined, client);
    if (res.status !== 200) return refused(res);
    if (res.body.length > MAX_RENEWAL_INFO_BYTES)
      throw new FleetcertError('response_invalid', `renewal info larger than ${MAX_RENEWAL_INFO_BYTES} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new FleetcertError('response_invalid', 'renewal info is not JSON');
    }
    const parsed = renewalInfoSchema.safeParse(json);
    if (!parsed.success) throw new FleetcertError('response_invalid', `renewal info: ${formatIssues(parsed.error)}`);
    const retryAfter = parseRetryAfter(res.headers['retry-after']);
    return {
      kind: 'info',
      info: parsed.data,
      retryAfterSeconds:
        retryAfter === undefined
          ? undefined
          : Math.max(RENEWAL_INFO_RETRY_BOUNDS.minSeconds, Math.min(RENEWAL_INFO_RETRY_BOUNDS.maxSeconds, retryAfter)),
    };
  }

  private send(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body?: string,
    client?: ClientCredentials,
  ): Promise<RawResponse> {
    const url = new URL(this.endpoint.url);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          host: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || 443,
          path,
          headers,
          ...(this.endpoint.servername ? { servername: this.endpoint.servername } : {}),
          ...(this.caPem === undefined ? { rejectUnauthorized: false } : { ca: this.caPem, rejectUnauthorized: true }),
          ...(client ? { cert: client.certChainPem, key: client.keyPem } : {}),
          timeout: TIMEOUT_MS,
          agent: false,
          // A `.local` endpoint is resolved over mDNS on every request: the server may have moved.
          lookup: brokerLookup,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_EST_BODY_BYTES) {
              req.destroy(new FleetcertError('server_unreachable', `response from ${path} exceeds ${MAX_EST_BODY_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            this.noteSkew(res.headers.date);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new FleetcertError('server_unreachable', `no answer from ${this.endpoint.url} within ${TIMEOUT_MS / 1000} s`)),
      );
      req.on('error', (err) => reject(translateTlsError(err, this.endpoint.url)));
      req.end(body);
    });
  }

  /** Reported, never trusted: the header is not authenticated, and the clock is not set from it. */
  private noteSkew(date: string | undefined): void {
    const skew = clockSkew(date, new Date());
    if (!skew) return;
    this.log.warn('the device clock differs from the server by more than 5 minutes; certificates may look invalid', {
      event: 'clock_skew',
      serverTime: skew.serverTime.toISOString(),
      deviceTime: skew.deviceTime.toISOString(),
      skewSeconds: skew.skewSeconds,
    });
  }
}

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

function outcome(res: RawResponse): EnrollOutcome {
  if (res.status === 200) return { kind: 'issued', chain: certsOnlyBody(res.body) };
  const retryAfter = parseRetryAfter(res.headers['retry-after']);
  if (res.status === 202) return { kind: 'pending', retryAfterSeconds: retryAfter ?? 60 };
  return refused(res);
}

function refused(res: RawResponse): Refused {
  const retryAfter = parseRetryAfter(res.headers['retry-after']);
  let code: RefusalCode = `http_${res.status}`;
  let message = '';
  try {
    // One schema: the code is one of the wire codes (shared/protocol/error-codes.ts) or the body is not a refusal.
    const parsed = errorBodySchema.safeParse(JSON.parse(res.body.toString('utf8')));
    if (parsed.success) ({ code, message } = parsed.data);
  } catch {
    // not JSON: keep the status as the code
  }
  return { kind: 'refused', status: res.status, code, message, retryAfterSeconds: retryAfter };
}

/** A base64 PKCS#7 certs-only body, strictly decoded (the same codec the server writes with). */
function certsOnlyBody(body: Buffer): Certificate[] {
  const der = decodeBase64Body(body.toString('latin1'));
  if (der === undefined) throw new FleetcertError('pkcs7_invalid', 'the response body is not base64');
  return decodeCertsOnly(der);
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const n = Number(Array.isArray(value) ? value[0] : value);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 86_400) : undefined;
}

export function translateTlsError(err: Error, url: string): FleetcertError {
  if (err instanceof FleetcertError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'CERT_NOT_YET_VALID') {
    return new FleetcertError(
      'clock_not_set',
      `the server's certificate is not valid yet at ${new Date().toISOString()}: the device clock is wrong`,
      {
        cause: err,
        hint: 'let NTP set the clock (timedatectl), or set it by hand, then retry',
      },
    );
  }
  return new FleetcertError('server_unreachable', `cannot talk to ${url}: ${code || err.message}`, { cause: err });
}
