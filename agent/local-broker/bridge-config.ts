/**
 * Local broker mode: the mosquitto.conf of the Mosquitto the agent runs on the device. A loopback
 * listener for local programs (Node-RED and friends), and one bridge to the fleet broker that
 * presents the device's live certificate, as the device's client id:
 *
 *   local `<topic>`            -> fleet `devices/<id>/<topic>`            (local programs, out)
 *   local `$fleetcert/status`  -> fleet `fleetcert/devices/<id>/status`   (the agent's status, out)
 *   fleet `fleetcert/devices/<id>/command` -> local `$fleetcert/command`  (the server's commands, in)
 *
 * The agent's own topics are `$` topics locally, so the `#` of local programs never carries them.
 * The bridge's last will (`0` on `$fleetcert/devices/<id>/bridge`) is the device going offline.
 * Mosquitto reads the certificate and key files again at every bridge connect: after a renewal, a
 * reconnect is enough (bridged-connection.ts), local programs never lose their connection.
 * Pure: the caller writes the file.
 */
import type { ResolvedBrokerTrust } from '../config/broker-trust.js';
import type { CredentialFiles } from '../config/state-layout.js';
import { FleetcertError } from '../../shared/errors.js';
import { deviceTopic, deviceTopics } from '../../shared/protocol/topics.js';

/** The agent's topics on the local broker. */
export const LOCAL_TOPICS = { status: '$fleetcert/status', command: '$fleetcert/command' } as const;

/**
 * First reconnect of the bridge after the fleet broker dropped it, in seconds: long enough that a
 * renewal's proof (the same client id, for a moment) is not taken over by the bridge coming back.
 */
export const BRIDGE_RESTART_BASE_SECONDS = 5;
const BRIDGE_RESTART_CAP_SECONDS = 60;

export interface BridgeConfigInput {
  readonly deviceId: string;
  /** The fleet broker: mosquitto connects to `servername ?? host` and checks its certificate against that name. */
  readonly broker: { readonly host: string; readonly port: number; readonly servername?: string | undefined };
  readonly trust: ResolvedBrokerTrust;
  /** The live credentials (stable paths through the `live` link). */
  readonly live: CredentialFiles;
  readonly listen: { readonly bind: string; readonly port: number };
  /** Persistence (queued messages survive a restart of the local broker) goes here. */
  readonly dataDir: string;
  /** The user the agent runs as: mosquitto started by root would otherwise drop to `mosquitto`, which cannot read the key. */
  readonly user: string;
  readonly maxQueuedMessages: number;
}

export function renderBridgeConfig(c: BridgeConfigInput): string {
  const host = c.broker.servername ?? c.broker.host;
  const address = host.includes(':') ? `[${host}]` : host;
  const ids = deviceTopics(c.deviceId);
  for (const value of [address, c.deviceId, c.live.chain, c.live.key, c.live.ca, c.dataDir, c.user, c.listen.bind]) plainValue(value);
  if (c.trust.kind === 'ca-file') plainValue(c.trust.path);
  const lines = [
    '# Written by fleetcert-agent (local broker mode) at every start: edits here are replaced.',
    `user ${c.user}`,
    'per_listener_settings false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'connection_messages false',
    `pid_file ${c.dataDir}/mosquitto.pid`,
    'persistence true',
    `persistence_location ${c.dataDir}/`,
    'autosave_interval 30',
    `max_queued_messages ${c.maxQueuedMessages}`,
    '',
    '# Local programs: loopback only, no authentication (any local process may publish as this device).',
    `listener ${c.listen.port} ${c.listen.bind}`,
    'allow_anonymous true',
    '',
    '# The fleet broker, as this device.',
    'connection fleet',
    `address ${address}:${c.broker.port}`,
    `remote_clientid ${c.deviceId}`,
    'cleansession false',
    'try_private false',
    `restart_timeout ${BRIDGE_RESTART_BASE_SECONDS} ${BRIDGE_RESTART_CAP_SECONDS}`,
    'notifications true',
    `notification_topic ${ids.bridge}`,
    ...trustLines(c.trust, c.live),
    `bridge_certfile ${c.live.chain}`,
    `bridge_keyfile ${c.live.key}`,
    'bridge_insecure false',
    `topic # out 1 "" ${deviceTopic(c.deviceId, '')}`,
    `topic ${topicName(ids.status)} out 1 ${prefixOf(LOCAL_TOPICS.status)} ${prefixOf(ids.status)}`,
    `topic ${topicName(ids.command)} in 1 ${prefixOf(LOCAL_TOPICS.command)} ${prefixOf(ids.command)}`,
    '',
  ];
  return lines.join('\n');
}

/** The last level of a topic, and what comes before it (mosquitto's `topic <pattern> <dir> <qos> <local prefix> <remote prefix>`). */
function topicName(topic: string): string {
  return topic.slice(topic.lastIndexOf('/') + 1);
}
function prefixOf(topic: string): string {
  return topic.slice(0, topic.lastIndexOf('/') + 1);
}

/**
 * mosquitto.conf has no quoting: a value with a space, a quote, a `#` or a line break would change
 * the file's meaning, so values are printable ASCII without those. The broker's name can come from mDNS, so it is checked like every other value.
 */
function plainValue(value: string): void {
  if (!/^[\x21-\x7e]+$/.test(value) || /["#]/.test(value)) {
    throw new FleetcertError(
      'local_broker_failed',
      `cannot write ${JSON.stringify(value.slice(0, 80))} into the local broker's mosquitto.conf`,
      {
        hint: 'names and paths in local broker mode must not contain spaces, quotes, # or control characters',
      },
    );
  }
}

function trustLines(trust: ResolvedBrokerTrust, live: CredentialFiles): string[] {
  switch (trust.kind) {
    case 'fleet-ca':
      return [`bridge_cafile ${live.ca}`];
    case 'ca-file':
      return [`bridge_cafile ${trust.path}`];
    case 'system':
      return ['bridge_capath /etc/ssl/certs'];
  }
}
