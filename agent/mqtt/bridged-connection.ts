/**
 * The agent's connection in local broker mode: the fleet session is the local Mosquitto's bridge
 * (one session per client id: the agent does not open a second one), and the agent is a plain
 * client of that local broker on loopback. Its status and commands cross the bridge as `$` topics
 * (bridge-config.ts); `online` means the bridge is up (the bridge's own `1`/`0` notification).
 *
 * After a renewal the bridge must present the new certificate: mosquitto reads the live files at
 * every bridge connect, so the agent makes it reconnect by taking the session over for a moment
 * with the new certificate (the same short connection that proves a candidate). Local programs
 * keep their connection throughout; what they publish meanwhile waits in the local broker's queue.
 */
import mqtt from 'mqtt';
import type { Logger } from '../../shared/log/logger.js';
import { deviceCommandSchema, parsePayload, type DeviceCommand } from '../../shared/protocol/device-status.js';
import { deviceTopics } from '../../shared/protocol/topics.js';
import type { CredentialFiles } from '../config/state-layout.js';
import { readLeaf } from '../credentials/credential-store.js';
import { LOCAL_TOPICS } from '../local-broker/bridge-config.js';
import type { LocalBroker } from '../local-broker/local-broker.js';
import type { BrokerAddress, ConnectionState } from './device-connection.js';
import { publishAcknowledged, statusPayload, TLS_REFUSALS } from './device-connection.js';

export interface BridgedConnectionOptions {
  readonly localBroker: LocalBroker;
  readonly listen: { readonly bind: string; readonly port: number };
  /** Renders the local broker's config for a fleet broker address (bridge-config.ts with the rest filled in). */
  readonly renderConfig: (broker: BrokerAddress) => string;
  readonly broker: BrokerAddress;
  readonly deviceId: string;
  readonly files: CredentialFiles;
  readonly agentVersion: string;
  readonly log: Logger;
  /** Makes the bridge reconnect with the live files: one short session takeover with them (proveCertificate). */
  readonly takeOver: (broker: BrokerAddress) => Promise<{ proven: boolean; reason?: string }>;
  readonly onState?: (state: ConnectionState, detail: string) => void;
  /**
   * Called each minute the bridge stays down while the local broker is up (the fleet broker may have
   * moved: the caller rediscovers it and calls moveTo). The agent does not see the bridge's attempts.
   */
  readonly onBridgeDown?: (minutes: number) => void;
}

const BRIDGE_DOWN_CHECK_MS = 60_000;

/**
 * What the fleet broker's TLS alerts mean, as OpenSSL words them in mosquitto's log when the bridge
 * cannot connect: the states a direct connection reports (device-connection.ts), so `status` and
 * the status file say why the device is not online. Mosquitto keeps retrying; the bridge's `1` clears it.
 */
const BRIDGE_FAILURES: readonly { pattern: RegExp; code: keyof typeof TLS_REFUSALS }[] = [
  { pattern: /alert certificate revoked/i, code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED' },
  { pattern: /alert certificate expired/i, code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED' },
  { pattern: /alert unknown ca/i, code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
  // The bridge could not verify the broker's certificate: most often another CA than the one it trusts.
  { pattern: /certificate verify failed/i, code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
];

/** The local client's id: the bridge holds the device's own id on the fleet broker. */
const LOCAL_CLIENT_ID = 'fleetcert-agent';

export class BridgedConnection {
  private client: mqtt.MqttClient | undefined;
  private closed = false;
  private current: ConnectionState = 'stopped';
  private bridgeUp = false;
  /** The serial in the status last published: a different live serial means the bridge must reconnect. */
  private serial: string | undefined;
  private broker: BrokerAddress;
  private brokerStarted = false;
  private downTimer: NodeJS.Timeout | undefined;
  onCommand: ((command: DeviceCommand) => void) | undefined;

  constructor(private readonly options: BridgedConnectionOptions) {
    this.broker = options.broker;
    options.localBroker.onLog = (line) => this.onBrokerLog(line);
  }

  get state(): ConnectionState {
    return this.current;
  }

  get isSuspended(): boolean {
    return false;
  }

  async start(): Promise<void> {
    if (this.closed) return;
    const { options } = this;
    if (!this.brokerStarted) {
      await options.localBroker.start(options.renderConfig(this.broker));
      this.brokerStarted = true;
    }
    this.serial = await this.liveSerial();
    const { status, command } = LOCAL_TOPICS;
    const bridge = deviceTopics(options.deviceId).bridge;
    this.setState('connecting', 'waiting for the local broker');
    const client = mqtt.connect(
      `mqtt://${options.listen.bind.includes(':') ? `[${options.listen.bind}]` : options.listen.bind}:${options.listen.port}`,
      {
        protocolVersion: 5,
        clientId: LOCAL_CLIENT_ID,
        reconnectPeriod: 2_000,
        writeCache: false,
        will: { topic: status, payload: Buffer.from(JSON.stringify({ state: 'offline' })), qos: 1, retain: true },
      } as mqtt.IClientOptions,
    );
    client.on('connect', () => {
      this.sayStatus(client);
      client.subscribe([command, bridge], { qos: 1 });
    });
    client.on('message', (topic, payload) => {
      if (topic === bridge) return this.onBridge(client, payload.toString('latin1') === '1');
      if (topic !== command) return;
      const order = parsePayload(deviceCommandSchema, payload);
      if (order) this.onCommand?.(order);
      else options.log.warn('ignored a malformed command', { topic });
    });
    client.on('offline', () => {
      if (this.client === client) this.onBridge(client, false);
    });
    client.on('error', (err) => options.log.warn('local broker connection problem', { message: err.message }));
    this.client = client;
  }

  /** Publishes to the device's subtree through the bridge (`<topic>` locally is `devices/<id>/<topic>` on the fleet broker). */
  async publishOwn(topic: string, payload: Buffer, timeoutMs = 10_000): Promise<void> {
    const client = this.client;
    if (!client?.connected || !this.bridgeUp) throw new Error('the bridge to the broker is not connected');
    await publishAcknowledged(client, topic, payload, timeoutMs);
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.watchDown(false);
    const client = this.client;
    this.client = undefined;
    if (client?.connected) {
      await Promise.race([
        client.publishAsync(LOCAL_TOPICS.status, JSON.stringify({ state: 'offline' }), { qos: 1, retain: true }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2_000)),
      ]);
    }
    await client?.endAsync(true).catch(() => undefined);
    // SIGTERM: mosquitto forwards what is queued while it may and saves the rest.
    await this.options.localBroker.stop();
    this.setState('stopped', 'stopped');
  }

  /** The fleet broker moved: the bridge goes to the new address (the local broker restarts, its queue kept). */
  async moveTo(broker: BrokerAddress): Promise<void> {
    this.broker = broker;
    if (this.closed || !this.brokerStarted) return;
    await this.options.localBroker.reconfigure(this.options.renderConfig(broker));
  }

  /** Nothing to suspend: a proof takes the bridge's session over for a moment, and the bridge comes back by itself. */
  async suspend(): Promise<void> {}

  async restart(): Promise<void> {
    await this.follow();
  }

  /** After a renewal: when the live certificate is not the one in use, the bridge reconnects with it. */
  async follow(): Promise<void> {
    if (this.closed) return;
    const serial = await this.liveSerial();
    if (serial === this.serial) return;
    this.serial = serial;
    const result = await this.options.takeOver(this.broker);
    if (result.proven) this.options.log.info('the bridge reconnects with the renewed certificate', { event: 'bridge_following', serial });
    // Not proven (broker away): the bridge presents the live files at its next connect anyway.
    else
      this.options.log.warn('could not move the bridge to the renewed certificate now', {
        event: 'bridge_follow_failed',
        reason: result.reason,
      });
    if (this.client) await this.publishStatus(this.client);
  }

  private onBridge(client: mqtt.MqttClient, up: boolean): void {
    if (this.client !== client) return;
    this.bridgeUp = up && client.connected;
    this.watchDown(!this.bridgeUp && client.connected);
    if (!this.bridgeUp) {
      // A refusal the log told of stands until the bridge is up again (its `0` may arrive after it).
      if (Object.values(TLS_REFUSALS).some((f) => f.state === this.current)) return;
      this.setState('connecting', client.connected ? 'the bridge to the fleet broker is down' : 'the local broker is not reachable');
      return;
    }
    // The fleet broker may have lost the retained status (or never had this serial's): say it again.
    this.sayStatus(client);
    this.setState('online', `${this.broker.host}:${this.broker.port} (bridged)`);
  }

  /** A bridge connection the fleet broker refused, from mosquitto's log: reported like a direct connection's. */
  private onBrokerLog(line: string): void {
    if (this.bridgeUp || this.closed) return;
    const code = BRIDGE_FAILURES.find((f) => f.pattern.test(line))?.code;
    const failure = code === undefined ? undefined : TLS_REFUSALS[code];
    if (!failure || failure.state === this.current) return;
    this.setState(failure.state, failure.advice);
    this.options.log.error(`the bridge cannot connect to the broker: ${failure.advice}`, { event: 'mqtt_refused', code, bridged: true });
  }

  /** While the bridge is down and the local broker up, tells onBridgeDown once a minute. */
  private watchDown(down: boolean): void {
    if (!down || this.closed) {
      clearInterval(this.downTimer);
      this.downTimer = undefined;
      return;
    }
    if (this.downTimer) return;
    let minutes = 0;
    this.downTimer = setInterval(() => this.options.onBridgeDown?.((minutes += 1)), BRIDGE_DOWN_CHECK_MS);
    this.downTimer.unref();
  }

  private sayStatus(client: mqtt.MqttClient): void {
    this.publishStatus(client).catch((err: unknown) => this.options.log.debug(() => `status not published: ${String(err)}`));
  }

  private async publishStatus(client: mqtt.MqttClient): Promise<void> {
    const leaf = await readLeaf(this.options.files);
    if (!leaf) return;
    await client
      .publishAsync(LOCAL_TOPICS.status, statusPayload('online', leaf, this.options.agentVersion), { qos: 1, retain: true })
      .catch((err: Error) => this.options.log.debug(() => `status not published: ${err.message}`));
  }

  private async liveSerial(): Promise<string | undefined> {
    return (await readLeaf(this.options.files))?.serialNumber;
  }

  private setState(state: ConnectionState, detail: string): void {
    if (state === this.current) return;
    this.current = state;
    if (state === 'online') {
      this.options.log.info('connected to the broker through the local bridge', {
        event: 'mqtt_connected',
        broker: detail,
        clientId: this.options.deviceId,
        serial: this.serial,
        bridged: true,
      });
    }
    this.options.onState?.(state, detail);
  }
}
