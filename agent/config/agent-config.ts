/**
 * The agent's configuration: one schema gives the type, the defaults and the validation.
 * Sources, later ones winning: the defaults, `/etc/fleetcert/agent.json` (or --config), then
 * what the command line and environment say (mapped in commands/). Loaded once, passed down.
 */
import { readFile } from 'node:fs/promises';
import cron from 'node-cron';
import { z } from 'zod';
import { FleetcertError } from '../../shared/errors.js';
import { formatIssues } from '../../shared/format-issues.js';
import { KEY_TYPES } from '../../shared/pki/key-pair.js';
import { BOOTSTRAP_FILE_LOCATIONS } from '../../shared/protocol/bootstrap-file.js';
import { DEFAULT_ID_TEMPLATE } from '../identity/device-identity.js';
import { DEFAULT_STATE_DIR } from './state-layout.js';

export const DEFAULT_CONFIG_FILE = '/etc/fleetcert/agent.json';
/** Where the bootstrap file may be (the list is shared: `fleetcert image bake` writes to one of them). */
export const DEFAULT_BOOTSTRAP_FILES = BOOTSTRAP_FILE_LOCATIONS;

export const agentConfigSchema = z
  .object({
    stateDir: z.string().min(1).default(DEFAULT_STATE_DIR),
    bootstrapFiles: z.array(z.string().min(1)).min(1).default(DEFAULT_BOOTSTRAP_FILES),
    /** `{model}`, `{serial}`, `{mac}`, `{hostname}`; sanitised to the device-id syntax. */
    idTemplate: z.string().min(1).max(128).default(DEFAULT_ID_TEMPLATE),
    keyType: z.enum(KEY_TYPES).default('ec-p256'),
    /** Executables run after every install, with the paths in their environment. */
    hooksDir: z.string().min(1).default('/etc/fleetcert/hooks.d'),
    /** Skips discovery of the enrollment endpoint. */
    enrollUrl: z.url({ protocol: /^https$/ }).optional(),
    /** `host:port` of the broker's mTLS listener; skips discovery of the broker. */
    broker: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
      .optional(),
    /** Name to check the broker's certificate against when `broker` is an address. */
    brokerServername: z.string().min(1).optional(),
    /**
     * Where local programs drop messages for the agent to publish (default `<stateDir>/outbox`, root
     * only). With `outboxGroup`, put it outside the 0700 state directory (e.g. /var/spool/fleetcert-agent):
     * the agent makes it 3770 (setgid, sticky) for that group, so its members publish without root.
     */
    outboxDir: z.string().startsWith('/', 'must be an absolute path').optional(),
    outboxGroup: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a group name')
      .optional(),
    /**
     * Local broker mode (docs/NODE-RED.md): the agent runs a Mosquitto on the device, listening on
     * loopback for local programs, bridged to the fleet broker with the device's certificate, and
     * uses that bridge itself. Absent: the agent connects to the fleet broker directly.
     */
    localBroker: z
      .object({
        bind: z.union([z.ipv4(), z.ipv6()]).default('127.0.0.1'),
        port: z.number().int().min(1).max(65_535).default(1883),
        mosquitto: z.string().startsWith('/', 'must be an absolute path').default('/usr/sbin/mosquitto'),
        /** What the local broker keeps for the fleet while the bridge is down. */
        maxQueuedMessages: z.number().int().min(100).max(1_000_000).default(10_000),
      })
      .strict()
      .optional(),
    /** Root under which /proc and /sys are read for the board identity (tests, chroots). */
    identityRoot: z.string().min(1).default('/'),
    discoveryTimeoutSeconds: z.number().int().min(1).max(600).default(10),
    /** How long to wait for a plausible clock before TLS; then go on and report. */
    clockWaitSeconds: z.number().int().min(0).max(3600).default(300),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    /** The safety-net check of `run` (node-cron syntax; 6 fields = with seconds); renewals run at their planned moment. */
    renewCheck: z
      .string()
      .refine((e) => cron.validate(e), 'must be a cron expression')
      .default('*/15 * * * *'),
    /** First pause after a failed renewal; it grows tenfold up to 6 h. */
    renewRetrySeconds: z.number().int().min(1).max(21_600).default(60),
  })
  .strict();
export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Reads the config file (absent is fine unless named explicitly), applies overrides, validates. */
export async function loadAgentConfig(file: string | undefined, overrides: AgentConfigInput): Promise<AgentConfig> {
  const path = file ?? DEFAULT_CONFIG_FILE;
  let fromFile: unknown = {};
  try {
    fromFile = JSON.parse(stripBom(await readFile(path, 'utf8')));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!(code === 'ENOENT' && file === undefined)) {
      throw new FleetcertError(
        'config_invalid',
        `${path}: ${code === 'ENOENT' ? 'no such file' : `not valid JSON (${(err as Error).message})`}`,
      );
    }
  }
  const merged = { ...(fromFile as object), ...definedOnly(overrides) };
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new FleetcertError('config_invalid', `agent configuration: ${formatIssues(parsed.error)}`, {
      hint: `check ${path} and the command-line options`,
    });
  }
  return parsed.data;
}

export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
