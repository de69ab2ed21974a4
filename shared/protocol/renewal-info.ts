/**
 * Renewal hints, in the spirit of ACME ARI (RFC 9773): the server suggests when each
 * certificate should renew, and can pull that forward (`fleetcert renew-now`). A device asks
 * over mutual TLS with the certificate in question; the answer is small JSON, parsed and
 * bounded by this one schema on both sides.
 */
import { z } from 'zod';
import type { RenewalWindow } from '../renewal/renewal-window.js';

export const RENEWAL_INFO_PATH = '/fleetcert/v1/renewal-info';

/** Largest answer the agent reads. A real one is ~200 bytes. */
export const MAX_RENEWAL_INFO_BYTES = 4096;

/** Bounds on the server's Retry-After (how long until the device asks again). */
export const RENEWAL_INFO_RETRY_BOUNDS = { minSeconds: 1, maxSeconds: 86_400 } as const;

export const renewalInfoSchema = z
  .object({
    serial: z.string().regex(/^[0-9a-f]{2,64}$/),
    suggestedWindow: z.object({ start: z.iso.datetime(), end: z.iso.datetime() }),
    /** `default`: the usual 2/3 (or 1/2) point; `operator`: pulled forward by `fleetcert renew-now`. */
    reason: z.enum(['default', 'operator']),
    explanation: z.string().max(256).optional(),
  })
  .refine((v) => Date.parse(v.suggestedWindow.start) <= Date.parse(v.suggestedWindow.end), {
    message: 'window ends before it starts',
    path: ['suggestedWindow'],
  });

export type RenewalInfo = z.infer<typeof renewalInfoSchema>;

export function renewalInfoWindow(info: RenewalInfo): RenewalWindow {
  return { start: new Date(info.suggestedWindow.start), end: new Date(info.suggestedWindow.end) };
}
