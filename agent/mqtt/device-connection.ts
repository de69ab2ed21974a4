/**
 * The device's operational MQTT connection: mqtt.js over mutual TLS with the live files (read
 * afresh at every start, never cached), client id = device id, servername = the broker's name
 * even when connecting by address. A retained `online` status on every (re)connect, a retained
 * `offline` last will. TLS failures that retrying cannot fix (revoked, expired, unknown CA,
 * wrong clock) stop the reconnect loop: the state says why, and a slow retry follows.
 * Lifecycle: the constructor assigns, start() connects, stop() is idempotent.
 */
import mqtt from 'mqtt';
import type { Logger } from '../../shared/log/logger.js';
import { deviceCommandSchema, parsePayload, type DeviceCommand, type DeviceStatus } from '../../shared/protocol/device-status.js';
import { deviceTopic, deviceTopics } from '../../shared/protocol/topics.js';
import type { CertificateInfo } from '../../shared/pki/certificate.js';
import type { ResolvedBrokerTrust } from '../config/broker-trust.js';
import type { CredentialFiles } from '../config/state-layout.js';
import { leafOf, readCredentialPems, readLeaf, type CredentialPems } from '../credentials/credential-store.js';
import { brokerLookup } from '../discovery/broker-lookup.js';

export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
  /** The broker's name when `host` is an address. */
  readonly servername?: string | undefined;
  /** What verifies the broker's certificate (bootstrap file's brokerTrust); absent: the fleet CA. */
  readonly trust?: ResolvedBrokerTrust | undefined;
}

export type ConnectionState = 'connecting' | 'online' | 'revoked' | 'expired' | 'untrusted' | 'clock' | 'stopped';

export interface DeviceConnectionOptions {
  readonly broker: BrokerAddress;
  readonly deviceId: string;
  readonly files: CredentialFiles;
  readonly agentVersion: string;
  readonly log: Logger;
  /** Pause after a fatal TLS failure before trying again (default 10 min). */
  readonly fatalRetryMs?: number;
  readonly onState?: (state: ConnectionState, detail: string) => void;
  /** Called after each failed connection attempt with the number of failures in a row (the broker may have moved). */
  readonly onConnectFailed?: (failedAttempts: number) => void;
}

/** TLS failures that reconnecting at once cannot fix, and what they mean. */
export const TLS_REFUSALS: Readonly<Record<string, { state: ConnectionState; advice: string }>> = {
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: {
    state: 'revoked',
    advice: 'the broker says this certificate is revoked: an operator must reset the device',
  },
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: { state: 'expired', advice: 'the broker says this certificate has expired: it must be renewed' },
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: {
    state: 'untrusted',
    advice: "the broker does not trust this certificate's CA: is this the right broker?",
  },
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
    state: 'untrusted',
    advice: "the broker's certificate is not from the pinned fleet CA: is this the right broker?",
  },
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: {
    state: 'untrusted',
    advice: "the broker's certificate is from a CA this device does not trust (bootstrap brokerTrust): is this the right broker?",
  },
  SELF_SIGNED_CERT_IN_CHAIN: {
    state: 'untrusted',
    advice: "the broker's certificate is not from the pinned fleet CA: is this the right broker?",
  },
  ERR_TLS_CERT_ALTNAME_INVALID: {
    state: 'untrusted',
    advice: "the broker's certificate does not name the host we connected to: set the broker servername",
  },
  CERT_NOT_YET_VALID: { state: 'clock', advice: "the broker's certificate is not valid yet: the device clock is wrong" },
  CERT_HAS_EXPIRED: {
    state: 'clock',
    advice: "the broker's certificate looks expired: the device clock is wrong, or the broker needs a new certificate",
  },
};

/** The retained status a connection publishes: the serial in it is what tells the server which certificate is in use. */
export function statusPayload(state: DeviceStatus['state'], leaf: CertificateInfo, agentVersion: string): string {
  return JSON.stringify({ state, serial: leaf.serialNumber, notAfter: leaf.notAfter.toISOString(), agentVersion } satisfies DeviceStatus);
}

/** `will` and client options every connection of this device uses (the service's and a proof's). */
export function deviceClientOptions(o: { broker: BrokerAddress; deviceId: string; pems: CredentialPems }): mqtt.IClientOptions {
  return {
    protocolVersion: 5,
    clientId: o.deviceId,
    ...brokerCa(o.broker.trust, o.pems.caPem),
    cert: o.pems.certChainPem,
    key: o.pems.keyPem,
    ...(o.broker.servername ? { servername: o.broker.servername } : {}),
    rejectUnauthorized: true,
    noDelay: true,
    // Every (re)connect resolves the broker's name again (over mDNS for `.local`): it may have moved.
    lookup: brokerLookup,
    // mqtt-packet's number cache is 65,536 two-byte Buffers (6 MiB of heap) for a few packets an hour.
    writeCache: false,
    will: { topic: deviceTopics(o.deviceId).status, payload: Buffer.from(JSON.stringify({ state: 'offline' })), qos: 1, retain: true },
  } as mqtt.IClientOptions;
}

/** The `ca` option: none for the runtime's default store (public broker certificates), else the PEMs to trust. */
function brokerCa(trust: ResolvedBrokerTrust | undefined, fleetCaPem: string): { ca?: string } {
  if (trust?.kind === 'system') return {};
  return { ca: trust?.kind === 'ca-file' ? trust.caPem : fleetCaPem };
}

export function brokerUrl(broker: BrokerAddress): string {
  return `mqtts://${broker.host.includes(':') ? `[${broker.host}]` : broker.host}:${broker.port}`;
}

/**
 * One QoS 1 publish that resolves on the PUBACK and rejects when none comes within `timeoutMs`;
 * its rejection is put in `inFlight` while it waits, so a connection being replaced can fail it at once.
 */
export async function publishAcknowledged(
  client: mqtt.MqttClient,
  topic: string,
  payload: Buffer,
  timeoutMs: number,
  inFlight?: Set<(err: Error) => void>,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let abandon: ((err: Error) => void) | undefined;
  try {
    await Promise.race([
      client.publishAsync(topic, payload, { qos: 1 }),
      new Promise<never>((_, reject) => {
        abandon = reject;
        inFlight?.add(reject);
        timer = setTimeout(() => reject(new Error(`no PUBACK within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (abandon) inFlight?.delete(abandon);
  }
}

export class DeviceConnection {
  private client: mqtt.MqttClient | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Set by stop(): final. Nothing connects again, not even a restart already under way. */
  private closed = false;
  private current: ConnectionState = 'stopped';
  /** The serial of the certificate the connection presents (logged with `mqtt_connected`). */
  private serial: string | undefined;
  private suspended = false;
  /** Set when an established connection is lost: the retries are quiet, the reconnect says it was one. */
  private outage: { since: number; attempts: number } | undefined;
  /** Rejections of publishOwn calls waiting for a PUBACK: a client that is ended never sends one. */
  private readonly inFlight = new Set<(err: Error) => void>();
  /** Called with each valid command on this device's command topic (e.g. renew now). */
  onCommand: ((command: DeviceCommand) => void) | undefined;
  /** Where the connection goes: the configured broker, until moveTo(). */
  private broker: BrokerAddress;
  private failedAttempts = 0;

  constructor(private readonly options: DeviceConnectionOptions) {
    this.broker = options.broker;
  }

  get state(): ConnectionState {
    return this.current;
  }

  async start(): Promise<void> {
    if (this.closed) return;
    const { options, broker } = this;
    const pems = await readCredentialPems(options.files);
    const chain = pems.certChainPem;
    const leaf = leafOf(chain);
    this.serial = leaf.serialNumber;
    const topics = deviceTopics(options.deviceId);
    const status = (state: DeviceStatus['state']): string => statusPayload(state, leaf, options.agentVersion);
    if (this.closed) return; // stopped while the files were being read
    this.setState('connecting', `${broker.host}:${broker.port}`);
    const client = mqtt.connect(brokerUrl(broker), {
      ...deviceClientOptions({ broker, deviceId: options.deviceId, pems }),
      reconnectPeriod: 5_000,
      connectTimeout: 15_000,
    });
    let connected = false;
    client.on('reconnect', () => (connected = false));
    client.on('close', () => {
      if (connected || this.client !== client) return;
      this.failedAttempts += 1;
      options.onConnectFailed?.(this.failedAttempts);
    });
    client.on('connect', () => {
      connected = true;
      this.failedAttempts = 0;
      this.setState('online', `${broker.host}:${broker.port}`);
      client.publish(topics.status, status('online'), { qos: 1, retain: true });
      client.subscribe(topics.command, { qos: 1 });
    });
    client.on('message', (topic, payload) => {
      if (topic !== topics.command) return;
      const command = parsePayload(deviceCommandSchema, payload);
      if (command) this.onCommand?.(command);
      else options.log.warn('ignored a malformed command', { topic });
    });
    client.on('error', (err) => this.onError(client, err));
    client.on('reconnect', () => {
      if (this.outage) this.outage.attempts += 1;
    });
    client.on('offline', () => {
      if (this.client !== client) return;
      if (this.current === 'online') {
        // One line for the outage, whatever it lasts; the attempts meanwhile are debug lines.
        this.outage = { since: Date.now(), attempts: 0 };
        options.log.warn('lost the connection to the broker; reconnecting', {
          event: 'mqtt_connection_lost',
          broker: brokerUrl(options.broker),
        });
      }
      // Not online any more: the next connect is a state change again, logged (`mqtt_connected`) and followed (outbox, clock).
      if (this.client === client) this.setState('connecting', `${broker.host}:${broker.port}`);
    });
    this.client = client;
  }

  /**
   * Publishes below this device's own subtree (`devices/<id>/<topic>`) at QoS 1. Resolves on
   * the broker's PUBACK; rejects when offline or when no PUBACK comes within `timeoutMs`, so
   * the caller keeps the message and tries again (the outbox does).
   */
  async publishOwn(topic: string, payload: Buffer, timeoutMs = 10_000): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new Error('not connected to the broker');
    await publishAcknowledged(client, deviceTopic(this.options.deviceId, topic), payload, timeoutMs, this.inFlight);
  }

  /** Publishes `offline` (retained) and disconnects, for good; safe to call twice. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.disconnect(true);
    this.setState('stopped', 'stopped');
  }

  /** Connects to another broker address from now on (found by a new discovery); a no-op once stopped. */
  async moveTo(broker: BrokerAddress): Promise<void> {
    this.broker = broker;
    this.failedAttempts = 0;
    await this.restart();
  }

  /** Reconnects with whatever files are live now (after a renewal); a no-op once stopped. */
  async restart(): Promise<void> {
    if (this.closed) return;
    this.suspended = false;
    await this.disconnect(false);
    await this.start();
  }

  /**
   * Disconnects, without the `offline` status, while a renewed certificate is proven with this
   * device's client id (the broker allows one session per id). restart() brings it back.
   */
  async suspend(): Promise<void> {
    if (this.closed) return;
    this.suspended = true;
    await this.disconnect(false);
  }

  get isSuspended(): boolean {
    return this.suspended;
  }

  /** Restarts only when suspended or when the live certificate is not the one this connection presents. */
  async follow(): Promise<void> {
    if (this.closed) return;
    const serial = (await readLeaf(this.options.files))?.serialNumber;
    if (this.suspended || !this.client || serial !== this.serial) await this.restart();
  }

  private async disconnect(announceOffline: boolean): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = undefined;
    for (const reject of this.inFlight) reject(new Error('the connection is being replaced'));
    this.inFlight.clear();
    if (!client) return;
    if (announceOffline && client.connected) {
      await Promise.race([
        client
          .publishAsync(deviceTopics(this.options.deviceId).status, JSON.stringify({ state: 'offline' }), { qos: 1, retain: true })
          .catch(() => undefined),
        new Promise((r) => setTimeout(r, 2_000)),
      ]);
    }
    await client.endAsync(true).catch(() => undefined);
  }

  private onError(client: mqtt.MqttClient, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const fatal = TLS_REFUSALS[code];
    if (!fatal) {
      if (this.outage) this.options.log.debug(() => `still no broker (${code || err.message}); retrying`);
      else this.options.log.warn('broker connection problem', { code, message: err.message });
      return;
    }
    // mqtt.js reports one TLS failure twice (socket and client): act once per client, or a second
    // retry timer leaks and keeps the process alive for its 10 minutes after stop().
    if (this.client !== client) return;
    // No hot loop: stop reconnecting, say why, try again much later.
    client.end(true);
    this.client = undefined;
    this.setState(fatal.state, fatal.advice);
    this.options.log.error(`cannot connect to the broker: ${fatal.advice}`, { event: 'mqtt_refused', code });
    if (!this.closed) {
      // Referenced on purpose: this timer is what the service waits for.
      this.retryTimer = setTimeout(
        () => void this.start().catch((e: Error) => this.options.log.error('reconnect failed', { err: e })),
        this.options.fatalRetryMs ?? 600_000,
      );
    }
  }

  private setState(state: ConnectionState, detail: string): void {
    if (state === this.current) return;
    this.current = state;
    if (state === 'online') {
      const outage = this.outage;
      this.outage = undefined;
      this.options.log.info(outage ? 'reconnected to the broker after an outage' : 'connected to the broker over mutual TLS', {
        event: 'mqtt_connected',
        broker: detail,
        clientId: this.options.deviceId,
        serial: this.serial,
        ...(outage ? { reconnect: true, outageSeconds: Math.round((Date.now() - outage.since) / 1000), attempts: outage.attempts } : {}),
      });
    }
    this.options.onState?.(state, detail);
  }
}
