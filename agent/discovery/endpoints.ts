/**
 * Where the enrollment endpoint and the broker are: explicit configuration first (the
 * bootstrap file's enrollUrl, --enroll-url, --broker), else mDNS discovery. The result is kept
 * in `<state>/broker.json`, which also tells local programs (Node-RED, scripts) where the
 * broker is and which files to use. A discovered broker is kept by its name (`pi-gw.local`),
 * never by the address mDNS gave that day: every connection resolves the name again
 * (broker-lookup.ts), so a server whose address changed is followed. Files written before
 * that, with an address, are read as the name they came with.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { Logger } from '../../shared/log/logger.js';
import type { AgentConfig } from '../config/agent-config.js';
import type { CredentialFiles } from '../config/state-layout.js';
import type { EstEndpoint } from '../enrollment/est-client.js';
import type { BrokerAddress } from '../mqtt/device-connection.js';
import { discoverBroker, type DiscoveredBroker } from './discover-broker.js';
import { FleetcertError } from '../../shared/errors.js';
import { isIP } from 'node:net';

export const DEFAULT_BROKER_PORT = 8883;

/** Where the endpoints came from: mDNS (found again when the broker cannot be reached) or configuration (kept as given). */
export type EndpointSource = 'mdns' | 'configured';

export interface Endpoints {
  readonly enroll: EstEndpoint;
  readonly broker: BrokerAddress;
  readonly source: EndpointSource;
}

export async function resolveEndpoints(config: AgentConfig, bootstrapEnrollUrl: string | undefined, log: Logger): Promise<Endpoints> {
  const enrollUrl = config.enrollUrl ?? bootstrapEnrollUrl;
  const explicitBroker = config.broker ? parseHostPort(config.broker) : undefined;
  if (enrollUrl) {
    const url = new URL(enrollUrl);
    const broker = explicitBroker ?? { host: url.hostname.replace(/^\[|\]$/g, ''), port: DEFAULT_BROKER_PORT };
    return { enroll: { url: url.origin }, broker: { ...broker, servername: config.brokerServername }, source: 'configured' };
  }
  const found = await discoverBroker({ timeoutSeconds: config.discoveryTimeoutSeconds, attempts: 5, log });
  const discovered = discoveredEndpoints(found);
  // An explicit broker stays fixed: nothing that was configured is ever replaced by a later discovery.
  return explicitBroker
    ? { ...discovered, broker: { ...explicitBroker, servername: config.brokerServername }, source: 'configured' }
    : discovered;
}

/** The endpoints a discovery names, by the broker's host name. */
export function discoveredEndpoints(found: DiscoveredBroker): Endpoints {
  return {
    enroll: { url: `https://${found.host}:${found.enrollPort}`, servername: found.host },
    broker: { host: found.host, port: found.brokerPort, servername: found.host },
    source: 'mdns',
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
  /** Absent in files written before it: inferred (only discovery saved an enrollment servername). */
  source: z.enum(['mdns', 'configured']).optional(),
  deviceId: z.string(),
  broker: z.object({ host: z.string(), port: z.number().int(), servername: z.string().optional() }),
  enroll: z.object({ url: z.string(), servername: z.string().optional() }),
  files: z.object({ key: z.string(), cert: z.string(), chain: z.string(), ca: z.string() }),
});
export type BrokerInfo = z.infer<typeof brokerInfoSchema>;

export async function writeBrokerInfo(path: string, deviceId: string, endpoints: Endpoints, files: CredentialFiles): Promise<void> {
  const info: BrokerInfo = {
    version: BROKER_INFO_VERSION,
    source: endpoints.source,
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
  return migrateBrokerInfo(info);
}

/**
 * A file from an agent that pinned the address mDNS returned (`"host": "192.168.1.20"`,
 * `"servername": "pi-gw.local"`) means the name: that address is what went stale when the
 * server moved. Discovered files are recognised by the enrollment servername only discovery set.
 */
export function migrateBrokerInfo(info: BrokerInfo): BrokerInfo {
  const source = info.source ?? (info.enroll.servername ? 'mdns' : 'configured');
  if (source !== 'mdns') return { ...info, source };
  const broker = info.broker.servername && isIP(info.broker.host) !== 0 ? { ...info.broker, host: info.broker.servername } : info.broker;
  const url = new URL(info.enroll.url);
  if (info.enroll.servername && isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0) url.hostname = info.enroll.servername;
  return { ...info, source, broker, enroll: { ...info.enroll, url: url.origin } };
}

export function endpointsFromInfo(info: BrokerInfo): Endpoints {
  return { enroll: info.enroll, broker: info.broker, source: info.source ?? 'configured' };
}

/** What was saved, with anything configured explicitly now (the broker moved, say) taking its place. */
export function withExplicitEndpoints(saved: Endpoints, config: AgentConfig): Endpoints {
  const enroll = config.enrollUrl ? { url: new URL(config.enrollUrl).origin } : saved.enroll;
  const broker = config.broker ? { ...parseHostPort(config.broker), servername: config.brokerServername } : saved.broker;
  // Anything configured is kept as given: only wholly discovered endpoints are looked for again.
  const source = config.enrollUrl || config.broker ? 'configured' : saved.source;
  return { enroll, broker, source };
}
