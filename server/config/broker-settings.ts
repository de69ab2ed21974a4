/**
 * What `broker-config` decided, for the commands that act on the broker later (`device
 * revoke`, `serve`): where the broker's files are, its ports, how to make it reload, how long
 * CRLs live. Stored as `<data>/broker.json`; one schema gives the type and the validation.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { FleetcertError } from '../../shared/errors.js';
import { formatIssues } from '../../shared/format-issues.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';

export const brokerSettingsSchema = z
  .object({
    version: z.literal(1),
    /** Directory holding fleetcert.conf, the ACLs, passwd, the PEMs and crl.pem. */
    outDir: z.string().startsWith('/'),
    /** The broker's name as devices verify it (TLS servername), e.g. `host.local`. */
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535),
    bind: z.string(),
    adminPort: z.number().int().min(1).max(65535),
    reload: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('pid-file'), path: z.string().startsWith('/') }),
      z.object({ kind: z.literal('command'), command: z.string().min(1) }),
      z.object({ kind: z.literal('none') }),
    ]),
    crlValiditySeconds: z.number().int().min(60),
    /** Group the broker files belong to (Mosquitto's), or null when written by a non-root user. */
    group: z.string().nullable(),
    /**
     * The other brokers of a fleet (same CA, same broker-config output, same admin password) whose
     * admin listeners a revocation also reaches to end the device's session there. Their CRL comes
     * from `fleetcert crl sync` on their own host.
     */
    peers: z
      .array(z.object({ host: z.string().min(1).max(253), adminPort: z.number().int().min(1).max(65535) }).strict())
      .max(64)
      .default([]),
  })
  .strict();
export type BrokerSettings = z.infer<typeof brokerSettingsSchema>;

export async function readBrokerSettings(path: string): Promise<BrokerSettings | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = brokerSettingsSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new FleetcertError('config_invalid', `${path} is invalid: ${formatIssues(parsed.error)}`, {
      hint: 'run "fleetcert broker-config" again to rewrite it',
    });
  }
  return parsed.data;
}

export async function writeBrokerSettings(path: string, settings: BrokerSettings): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(brokerSettingsSchema.parse(settings), null, 2) + '\n', { mode: 0o600 });
}

/** The broker as later commands reach it: its settings and the admin listener's password. */
export interface BrokerLink {
  readonly settings: BrokerSettings;
  readonly adminPassword: string;
}

/** Undefined when `broker-config` has not run for this data directory. */
export async function loadBrokerLink(settingsPath: string, adminSecretPath: string): Promise<BrokerLink | undefined> {
  const settings = await readBrokerSettings(settingsPath);
  if (!settings) return undefined;
  let adminPassword: string;
  try {
    adminPassword = (await readFile(adminSecretPath, 'utf8')).trim();
  } catch (err) {
    throw new FleetcertError('config_invalid', `cannot read ${adminSecretPath}: ${(err as NodeJS.ErrnoException).code}`, {
      hint: 'run "fleetcert broker-config" again to recreate it',
    });
  }
  return { settings, adminPassword };
}
