/**
 * Device facts sent with an enrollment (model, serial, MAC, OS, agent version), for the
 * operator's registry. Informational only: nothing is authorised on them. They travel as
 * base64url JSON in one bounded header, so EST bodies stay plain RFC 7030.
 */
import { z } from 'zod';

export const METADATA_HEADER = 'x-fleetcert-device';
export const MAX_METADATA_HEADER_CHARS = 2048;

const text = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[\x20-\x7e]*$/, 'printable ASCII only');

export const deviceMetadataSchema = z
  .object({
    model: text(128).optional(),
    serial: text(64).optional(),
    mac: z
      .string()
      .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/)
      .optional(),
    os: text(128).optional(),
    arch: text(16).optional(),
    hostname: text(64).optional(),
    agentVersion: text(32).optional(),
  })
  .strict();
export type DeviceMetadata = z.infer<typeof deviceMetadataSchema>;

export function encodeMetadataHeader(metadata: DeviceMetadata): string {
  return Buffer.from(JSON.stringify(metadata)).toString('base64url');
}

/** Parses the header; undefined when it is absent. Throws a plain Error when malformed. */
export function parseMetadataHeader(value: string | undefined): DeviceMetadata | undefined {
  if (value === undefined) return undefined;
  if (value.length > MAX_METADATA_HEADER_CHARS || !/^[A-Za-z0-9_-]*$/.test(value))
    throw new Error('metadata header is not bounded base64url');
  return deviceMetadataSchema.parse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
}
