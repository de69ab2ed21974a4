/**
 * fleetcert's own MQTT client inside `serve`: connects to the broker over mutual TLS as
 * `fleetcert-server`, subscribes to every device's retained status and records it (state,
 * reported serial, last seen). Operator commands go through the admin listener instead
 * (admin-listener.ts): a second client with this identity would take this one's session over,
 * since the broker forces client id = CN. Reconnects on its own; the
 * constructor only assigns, `start()` connects, `stop()` is idempotent and bounded.
 */
import mqtt from 'mqtt';
import type { Logger } from '../../shared/log/logger.js';
import { deviceStatusSchema, parsePayload, type DeviceStatus } from '../../shared/protocol/device-status.js';
import { ALL_BRIDGE_TOPICS, ALL_STATUS_TOPICS, deviceIdFromTopic } from '../../shared/protocol/topics.js';
import type { Registry } from '../registry/registry.js';
import { DEFAULT_CHURN_POLICY, SessionChurn, type ChurnPolicy } from '../sessions/session-churn.js';

export interface ServerClientOptions {
  readonly url: string;
  /** The name the broker certificate is checked against (it is often reached by IP). */
  readonly servername: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly registry: Registry;
  readonly log: Logger;
  readonly now?: () => Date;
  /**
   * A device reported being online with this serial: its first status after connecting with a
   * new certificate is the proof that retires the old one (server/revocation/supersede.ts).
   */
  readonly onSerialReported?: (deviceId: string, serial: string) => Promise<void>;
  /** When a device counts as taken over repeatedly (default: 5 connections within a minute). */
  readonly churn?: ChurnPolicy;
}

export class ServerMqttClient {
  private client: mqtt.MqttClient | undefined;
  private readonly churn: SessionChurn;

  constructor(private readonly options: ServerClientOptions) {
    this.churn = new SessionChurn(options.churn);
  }

  start(): void {
    const { options } = this;
    const log = options.log;
    const client = mqtt.connect(options.url, {
      protocolVersion: 5,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      servername: options.servername,
      rejectUnauthorized: true,
      reconnectPeriod: 5_000,
      connectTimeout: 10_000,
      noDelay: true,
    } as mqtt.IClientOptions);
    client.on('connect', () => {
      log.info('connected to the broker', { event: 'broker_connected', url: options.url });
      client.subscribe([ALL_STATUS_TOPICS, ALL_BRIDGE_TOPICS], { qos: 1 }, (err) => {
        if (err) log.warn('could not subscribe to device status', { err });
      });
    });
    client.on('message', (topic, payload) => this.onStatus(topic, payload));
    client.on('error', (err) => log.warn('broker connection problem', { err }));
    client.on('offline', () => log.debug('broker offline; reconnecting'));
    this.client = client;
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(true).catch(() => undefined);
  }

  /** Audited, so `device show`/`list` show it from any process; a warning for whoever reads serve's log. */
  private async flagTakeover(deviceId: string, connects: number, now: Date): Promise<void> {
    const windowSeconds = (this.options.churn?.windowMs ?? DEFAULT_CHURN_POLICY.windowMs) / 1000;
    this.options.log.warn(`${deviceId} connected ${connects} times within ${windowSeconds} s: two boards with one identity?`, {
      event: 'session_takeover_suspected',
      deviceId,
      connects,
      windowSeconds,
    });
    await this.options.registry.audit({
      at: now,
      action: 'session_takeover',
      deviceId,
      source: 'mqtt-status',
      detail: { connects, windowSeconds },
    });
  }

  private onStatus(topic: string, payload: Buffer): void {
    const deviceId = deviceIdFromTopic(topic);
    const status = topic.startsWith('$') ? bridgeState(payload) : parsePayload(deviceStatusSchema, payload);
    if (status === 'ignore') return;
    if (!deviceId || !status) {
      this.options.log.debug(() => `ignored a malformed status on ${topic.slice(0, 120)}`);
      return;
    }
    const now = this.options.now?.() ?? new Date();
    const { serial } = status;
    this.options.registry.recordReportedStatus(deviceId, status.state, serial ?? null, now).then(
      async (known) => {
        this.options.log.debug(() => `status of ${deviceId}: ${status.state}${known ? '' : ' (unknown device, ignored)'}`);
        if (!known || status.state !== 'online') return;
        const connects = this.churn.online(deviceId, now);
        if (connects !== undefined) await this.flagTakeover(deviceId, connects, now);
        if (serial !== undefined) await this.options.onSerialReported?.(deviceId, serial);
      },
      (err: unknown) => this.options.log.error('could not record a device status', { event: 'status_not_recorded', err, deviceId }),
    );
  }
}

/**
 * A bridged device's connection state (local broker mode): `0`, the bridge's last will, is the
 * device going offline; `1` is ignored, because the agent's own status, with its serial, follows.
 */
function bridgeState(payload: Buffer): DeviceStatus | 'ignore' | undefined {
  const text = payload.toString('latin1');
  if (text === '1') return 'ignore';
  return text === '0' ? { state: 'offline' } : undefined;
}
