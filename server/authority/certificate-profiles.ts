/**
 * What every certificate fleetcert signs contains, as data: the profile rules kept apart from
 * the library that encodes them, so that any issuer (today's @peculiar/x509 one, a fast DER
 * one, a hardware key) applies the same rules. Nothing a requester asks for (a CSR's extension
 * request, say) reaches these rules: the profile alone decides the extensions. Pure: time and
 * randomness come in as parameters.
 *
 * Profiles, extensions in certificate order:
 * - root-ca:         CA:true (critical), keyCertSign+cRLSign (critical), SKI; self-signed
 * - intermediate-ca: CA:true pathlen:0 (critical), keyCertSign+cRLSign (critical), SKI, AKI
 * - tls-server:      CA:false (critical), digitalSignature[+keyEncipherment for RSA] (critical),
 *                    serverAuth, SAN (DNS names, then IP addresses), SKI, AKI
 * - device-client:   CA:false (critical), digitalSignature (critical), clientAuth, SKI, AKI
 * - service-client:  the extensions of device-client, for a backend consumer (fleetcert service issue);
 *                    only this profile signs a subject whose CN starts `service:`, and it signs no other
 * Certificates under an issuing CA also carry a CRL distribution point (its URL, last) when the
 * request names one: where brokers that fetch CRLs themselves (EMQX) find the issuer's CRL.
 */
import { isIP } from 'node:net';
import { FleetcertError } from '../../shared/errors.js';

const CERTIFICATE_PROFILES = ['root-ca', 'intermediate-ca', 'tls-server', 'device-client', 'service-client'] as const;
export type CertificateProfile = (typeof CERTIFICATE_PROFILES)[number];

/**
 * The CN prefix of a service certificate. The colon is outside the device-id alphabet, so no
 * device id (the CN of a device certificate) can carry it; Mosquitto maps the CN to the MQTT
 * username, so the broker's ACL tells services and devices apart by it.
 */
export const SERVICE_CN_PREFIX = 'service:';

const DEFAULT_BACKDATE_SECONDS = 5 * 60;
const SERIAL_BYTES = 16;

export type KeyUsage = 'digitalSignature' | 'keyEncipherment' | 'keyCertSign' | 'cRLSign';
export type ExtendedKeyUsage = 'serverAuth' | 'clientAuth';
/** What the certified key is, as far as the profile cares (RSA server keys also encipher). */
export type PublicKeyFamily = 'ec' | 'rsa';

export interface SubjectName {
  readonly commonName: string;
  /** Encoded after the CN when present. */
  readonly organization?: string;
}

/** What a caller may choose; everything else follows from the profile. */
export interface ProfileRequest {
  readonly profile: CertificateProfile;
  readonly subject: SubjectName;
  readonly now: Date;
  readonly lifetimeSeconds: number;
  /** How far notBefore is set before `now`, for devices whose clock lags (default 300 s). */
  readonly backdateSeconds?: number;
  /** tls-server only: DNS names and IP addresses for the SAN. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** The http URL at which the issuer's CRL is served; not for a root (nothing revokes it). */
  readonly crlDistributionPoint?: string;
}

/**
 * The extensions of one certificate, in the order an issuer writes them: basic constraints,
 * key usage, extended key usage, SAN, SKI, AKI. Basic constraints and key usage are critical,
 * the others are not. SKI is always present (SHA-1 of the subjectPublicKey bits, RFC 5280
 * §4.2.1.2 method 1); AKI carries the issuer's SKI whenever the certificate is not self-signed.
 */
export interface ProfileExtensions {
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength?: number };
  readonly keyUsage: readonly KeyUsage[];
  readonly extendedKeyUsage?: readonly ExtendedKeyUsage[];
  readonly subjectAltName?: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
  readonly authorityKeyIdentifier: boolean;
  /** One distribution point, its full name this URI (RFC 5280 §4.2.1.13), after the AKI. */
  readonly crlDistributionPoint?: string;
}

/** Everything an issuer needs besides the key and the signature. */
export interface CertificatePlan {
  /** Lowercase hex: 16 bytes, positive, no leading zero (the registry's and the CRL's spelling). */
  readonly serial: string;
  readonly subject: SubjectName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: ProfileExtensions;
}

export interface PlanContext {
  readonly keyFamily: PublicKeyFamily;
  /** The issuing CA's notAfter; undefined for a self-signed root. */
  readonly issuerNotAfter: Date | undefined;
  readonly randomBytes: (size: number) => Uint8Array;
}

export function planCertificate(request: ProfileRequest, context: PlanContext): CertificatePlan {
  const selfSigned = context.issuerNotAfter === undefined;
  if (selfSigned !== (request.profile === 'root-ca')) {
    throw new FleetcertError('internal', `profile ${request.profile} ${selfSigned ? 'needs an issuing CA' : 'must be self-signed'}`);
  }
  if (selfSigned && request.crlDistributionPoint !== undefined)
    throw new FleetcertError('internal', 'a root carries no CRL distribution point');
  if ((request.profile === 'service-client') !== request.subject.commonName.startsWith(SERVICE_CN_PREFIX)) {
    throw new FleetcertError(
      'internal',
      `profile ${request.profile} cannot sign the subject CN ${JSON.stringify(request.subject.commonName)}`,
    );
  }
  const hasNames = (request.dnsNames?.length ?? 0) + (request.ipAddresses?.length ?? 0) > 0;
  if (hasNames && request.profile !== 'tls-server')
    throw new FleetcertError('internal', `profile ${request.profile} carries no subject alternative names`);
  return {
    serial: randomSerial(context.randomBytes),
    subject: request.subject,
    ...certificateValidity(request, context.issuerNotAfter),
    extensions: {
      ...profileExtensions(request, context.keyFamily),
      ...(request.crlDistributionPoint === undefined ? {} : { crlDistributionPoint: crlDistributionPoint(request.crlDistributionPoint) }),
    },
  };
}

/** An http(s) URL of printable ASCII (an IA5String in the certificate), bounded: anything else is a configuration error. */
export function crlDistributionPoint(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || !/^[\x21-\x7e]{1,512}$/.test(url)) {
    throw new FleetcertError('config_invalid', `CRL distribution point "${url.slice(0, 80)}" must be an http(s) URL of printable ASCII`);
  }
  return url;
}

/** 16 random bytes as a positive DER INTEGER with no leading zero byte. */
export function randomSerial(randomBytes: (size: number) => Uint8Array): string {
  const bytes = Uint8Array.from(randomBytes(SERIAL_BYTES));
  if (bytes.length !== SERIAL_BYTES) throw new FleetcertError('internal', 'random source returned the wrong length');
  bytes[0] = (bytes[0]! % 0x7f) + 1; // 0x01..0x7f: positive and minimal
  return Buffer.from(bytes).toString('hex');
}

/**
 * notBefore = now - backdate, notAfter = now + lifetime, both from a whole second (X.509 times
 * have one-second resolution, so the certificate says exactly what was asked), and never past
 * the issuer's notAfter: clients would reject the chain before the certificate expires.
 */
export function certificateValidity(request: ProfileRequest, issuerNotAfter: Date | undefined): { notBefore: Date; notAfter: Date } {
  if (!(request.lifetimeSeconds > 0)) {
    throw new FleetcertError('internal', `certificate lifetime must be positive, got ${request.lifetimeSeconds}`);
  }
  const backdate = request.backdateSeconds ?? DEFAULT_BACKDATE_SECONDS;
  if (!(backdate >= 0)) throw new FleetcertError('internal', `certificate backdate must not be negative, got ${backdate}`);
  const now = Math.floor(request.now.getTime() / 1000) * 1000;
  if (!Number.isFinite(now)) throw new FleetcertError('internal', 'certificate validity needs a valid "now"');
  const notBefore = new Date(now - backdate * 1000);
  const notAfter = new Date(now + request.lifetimeSeconds * 1000);
  return { notBefore, notAfter: issuerNotAfter !== undefined && notAfter > issuerNotAfter ? new Date(issuerNotAfter.getTime()) : notAfter };
}

export function profileExtensions(request: ProfileRequest, keyFamily: PublicKeyFamily): ProfileExtensions {
  switch (request.profile) {
    case 'root-ca':
      return { basicConstraints: { ca: true }, keyUsage: ['keyCertSign', 'cRLSign'], authorityKeyIdentifier: false };
    case 'intermediate-ca':
      return { basicConstraints: { ca: true, pathLength: 0 }, keyUsage: ['keyCertSign', 'cRLSign'], authorityKeyIdentifier: true };
    case 'tls-server':
      return {
        basicConstraints: { ca: false },
        keyUsage: keyFamily === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'],
        extendedKeyUsage: ['serverAuth'],
        subjectAltName: subjectAltNames(request.dnsNames ?? [], request.ipAddresses ?? []),
        authorityKeyIdentifier: true,
      };
    case 'device-client':
    case 'service-client':
      return {
        basicConstraints: { ca: false },
        keyUsage: ['digitalSignature'],
        extendedKeyUsage: ['clientAuth'],
        authorityKeyIdentifier: true,
      };
  }
}

function subjectAltNames(dnsNames: readonly string[], ipAddresses: readonly string[]): NonNullable<ProfileExtensions['subjectAltName']> {
  if (dnsNames.length + ipAddresses.length === 0) {
    throw new FleetcertError('internal', 'a TLS server certificate needs at least one DNS name or IP address');
  }
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) throw new FleetcertError('config_invalid', `"${ip}" is not an IP address`);
  }
  return { dnsNames: [...new Set(dnsNames)], ipAddresses: [...new Set(ipAddresses)] };
}
