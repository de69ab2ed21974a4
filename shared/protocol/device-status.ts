/**
 * Payloads on the fleetcert MQTT topics, parsed and bounded on receipt: the device's retained
 * status, and commands from the server.
 */
import { z } from 'zod';

export const MAX_STATUS_BYTES = 1024;

export const deviceStatusSchema = z
  .object({
    state: z.enum(['online', 'offline', 'renewing', 'error']),
    serial: z
      .string()
      .regex(/^[0-9a-f]{1,64}$/)
      .optional(),
    notAfter: z.iso.datetime().optional(),
    agentVersion: z.string().max(32).optional(),
    message: z.string().max(256).optional(),
  })
  .strict();
export type DeviceStatus = z.infer<typeof deviceStatusSchema>;

export const deviceCommandSchema = z
  .object({
    command: z.literal('renew'),
    reason: z.string().max(128).optional(),
    issuedAt: z.iso.datetime(),
  })
  .strict();
export type DeviceCommand = z.infer<typeof deviceCommandSchema>;

/** Parses a JSON payload with a schema; undefined when it is oversized or malformed. */
export function parsePayload<T>(schema: z.ZodType<T>, payload: Uint8Array, maxBytes = MAX_STATUS_BYTES): T | undefined {
  if (payload.byteLength > maxBytes) return undefined;
  try {
    const result = schema.safeParse(JSON.parse(Buffer.from(payload).toString('utf8')));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
