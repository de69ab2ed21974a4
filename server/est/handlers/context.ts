/** What every EST handler receives: the services, the limits, and this request's facts. */
import type { Certificate } from '../../../shared/pki/certificate.js';
import type { EnrollmentService, RequestContext } from '../../enrollment/enrollment-service.js';
import type { BodyLimits } from '../read-body.js';

export interface HandlerContext {
  readonly service: EnrollmentService;
  /** The CA certificates served by /cacerts: issuing CA, then root. */
  readonly caCertificates: readonly Certificate[];
  readonly bodyLimits: BodyLimits;
  /** Retry-After of renewal-info answers: how long until a device asks again. */
  readonly renewalInfoRetrySeconds: number;
  readonly request: RequestContext;
  /** DER of the client certificate presented in the TLS handshake, if any. */
  readonly peerCertificate: Uint8Array | undefined;
}
