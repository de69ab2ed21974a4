/**
 * Where the enrollment endpoint and the broker are: explicit configuration first (the
 * bootstrap file's enrollUrl, --enroll-url, --broker), else mDNS discovery. The result is kept
 * in `<state>/broker.json`, which also tells local programs (Node-RED, scripts) where the
 * broker is and which files to use.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';
import type { AgentConfig } from '../config/agent-config.js';
import type { CredentialFiles } from '../config/state-layout.js';
import type { EstEndpoint } from '../enrollment/est-client.js';
import type { BrokerAddress } from '../mqtt/device-connection.js';
import { discoverBroker } from './discover-broker.js';
import { FleetcertError } from '../../shared/errors.js';

export const DEFAULT_BROKER_PORT = 8883;

export interface Endpoints {
  readonly enroll: EstEndpoint;
  readonly broker: BrokerAddress;
}

export async function resolveEndpoints(config: AgentConfig, bootstrapEnrollUrl: string | undefined, log: Logger): Promise<Endpoints> {
  const enrollUrl = config.enrollUrl ?? bootstrapEnrollUrl;
  const explicitBroker = config.broker ? parseHostPort(config.broker) : undefined;
  if (enrollUrl) {
    const url = new URL(enrollUrl);
    const broker = explicitBroker ?? { host: url.hostname.replace(/^\[|\]$/g, ''), port: DEFAULT_BROKER_PORT };
    return { enroll: { url: url.origin }, broker: { ...broker, servername: config.brokerServername } };
  }
  const found = await discoverBroker({ timeoutSeconds: config.discoveryTimeoutSeconds, attempts: 5, log });
  const address = found.address.includes(':') ? `[${found.address}]` : found.address;
  return {
    enroll: { url: `https://${address}:${found.enrollPort}`, servername: found.host },
    broker: explicitBroker
      ? { ...explicitBroker, servername: config.brokerServername }
      : { host: found.address, port: found.brokerPort, servername: found.host },
  };
}

function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value)!;
  return { host: match[1] ?? match[2]!, port: Number(match[3]) };
}

/**
 * The format version of broker.json, a contract with local programs (Node-RED, scripts): a field
 * is added without a new version; a change that would mislead an older reader gets one.
 */
export const BROKER_INFO_VERSION = 1;

const brokerInfoSchema = z.object({
  /** Absent in files written before versions existed: those are version 1. */
  version: z.number().int().positive().optional(),
  deviceId: z.string(),
  broker: z.object({ host: z.string(), port: z.number().int(), servername: z.string().optional() }),
  enroll: z.object({ url: z.string(), servername: z.string().optional() }),
  files: z.object({ key: z.string(), cert: z.string(), chain: z.string(), ca: z.string() }),
});
export type BrokerInfo = z.infer<typeof brokerInfoSchema>;

export async function writeBrokerInfo(path: string, deviceId: string, endpoints: Endpoints, files: CredentialFiles): Promise<void> {
  const info: BrokerInfo = {
    version: BROKER_INFO_VERSION,
    deviceId,
    broker: {
      host: endpoints.broker.host,
      port: endpoints.broker.port,
      ...(endpoints.broker.servername ? { servername: endpoints.broker.servername } : {}),
    },
    enroll: { url: endpoints.enroll.url, ...(endpoints.enroll.servername ? { servername: endpoints.enroll.servername } : {}) },
    files: { key: files.key, cert: files.cert, chain: files.chain, ca: files.ca },
  };
  await writeFileAtomic(path, JSON.stringify(info, null, 2) + '\n', { mode: 0o644 });
}

/** The saved endpoints; undefined when there are none usable. A file from a newer agent is refused, not guessed at. */
export async function readBrokerInfo(path: string): Promise<BrokerInfo | undefined> {
  let info: BrokerInfo;
  try {
    info = brokerInfoSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return undefined;
  }
  if ((info.version ?? 1) > BROKER_INFO_VERSION) {
    throw new FleetcertError(
      'config_invalid',
      `${path} has format version ${info.version}; this agent reads version ${BROKER_INFO_VERSION}`,
      {
        hint: 'a newer agent wrote it: install that version again, or remove the file so that this agent writes its own',
      },
    );
  }
  return info;
}

export function endpointsFromInfo(info: BrokerInfo): Endpoints {
  return { enroll: info.enroll, broker: info.broker };
}

/** What was saved, with anything configured explicitly now (the broker moved, say) taking its place. */
export function withExplicitEndpoints(saved: Endpoints, config: AgentConfig): Endpoints {
  const enroll = config.enrollUrl ? { url: new URL(config.enrollUrl).origin } : saved.enroll;
  const broker = config.broker ? { ...parseHostPort(config.broker), servername: config.brokerServername } : saved.broker;
  return { enroll, broker };
}
