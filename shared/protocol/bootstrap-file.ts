/**
 * The bootstrap file an operator copies onto a device image (`fleetcert token create --out`):
 * the fleet token, the CA pin, optionally the enrollment URL. The server writes it; the agent
 * reads it. Version 1.
 */
import { z } from 'zod';

/** `fct_<10 lowercase alphanumerics>_<43 base64url chars: 256-bit secret>`. */
export const FLEET_TOKEN_PATTERN = /^fct_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$/;

/**
 * Where the agent looks for the bootstrap file, in order: the Pi's FAT boot partition (Bookworm,
 * then older releases and Armbian's /boot), then /etc. `fleetcert image bake` writes it to one of these.
 */
export const BOOTSTRAP_FILE_LOCATIONS = ['/boot/firmware/fleetcert.json', '/boot/fleetcert.json', '/etc/fleetcert/bootstrap.json'];

/**
 * How the agent verifies the broker's TLS certificate (enrollment always uses the pinned fleet CA):
 * `fleet-ca` (default: the broker's certificate comes from fleetcert), `system` (a broker with a
 * public certificate, e.g. Let's Encrypt on EMQX Cloud: the runtime's default trust store), or
 * `{ caFile }`: the CA certificates in that file on the device.
 */
export const brokerTrustSchema = z.union([
  z.literal('fleet-ca'),
  z.literal('system'),
  z.object({ caFile: z.string().startsWith('/', 'must be an absolute path').max(4096) }).strict(),
]);
export type BrokerTrust = z.infer<typeof brokerTrustSchema>;

export const bootstrapFileSchema = z
  .object({
    version: z.literal(1),
    token: z.string().regex(FLEET_TOKEN_PATTERN, 'must look like fct_<id>_<secret>'),
    /** SHA-256 of the root CA certificate (DER), lowercase hex. */
    caFingerprint: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
    /** The root CA certificate itself; when absent the agent fetches /cacerts and checks the pin. */
    caCertificate: z
      .string()
      .max(16 * 1024)
      .startsWith('-----BEGIN CERTIFICATE-----')
      .optional(),
    /** Skips discovery when set. */
    enrollUrl: z.url({ protocol: /^https$/ }).optional(),
    /** How the broker is verified; absent: `fleet-ca`. */
    brokerTrust: brokerTrustSchema.optional(),
  })
  .strict();
export type BootstrapFile = z.infer<typeof bootstrapFileSchema>;

/**
 * The same file after the agent's first enrollment: the token has moved into the agent's 0700
 * state directory (the FAT boot partition is readable by anyone holding the SD card); the pin and
 * the URL stay for a re-flash and for diagnostics.
 */
export const movedBootstrapFileSchema = bootstrapFileSchema
  .omit({ token: true })
  .extend({ tokenMovedTo: z.string().min(1).max(4096) })
  .strict();
export type MovedBootstrapFile = z.infer<typeof movedBootstrapFileSchema>;
