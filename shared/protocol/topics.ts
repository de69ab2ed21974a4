/**
 * MQTT topics and the ACL that confines them, from one builder: the server renders the
 * Mosquitto ACL from `aclRules()`, the agent publishes and subscribes with `deviceTopics()`,
 * so the two cannot drift. `%u` in a pattern is the certificate CN (Mosquitto's
 * use_identity_as_username), which device-id rules keep free of `/ + #`.
 */

/** The identity fleetcert's own MQTT client uses (a reserved device id). */
export const SERVER_IDENTITY = 'fleetcert-server';
/** The admin listener's user, which ends sessions by taking over their client id. */
export const ADMIN_USER = 'fleetcert-admin';

export interface DeviceTopics {
  /** The device's own application subtree: it reads and writes anything below it. */
  readonly subtree: string;
  /** Retained status ({state, serial, notAfter, agentVersion}); `offline` as last will. */
  readonly status: string;
  /** Commands for this device (e.g. renew now), published by the server; "all devices" is one publish each. */
  readonly command: string;
  /**
   * A device in local broker mode: its bridge's connection state, `1` or `0` (retained; `0` is the
   * bridge's last will, so a board that loses power goes offline). A `$` topic, so that the device's
   * `#` mapping of local programs' topics never carries the local copy of it.
   */
  readonly bridge: string;
}

/** A topic in the device's own application subtree: `devices/<id>/<topic>` (what `fleetcert-agent publish` sends to). */
export function deviceTopic(deviceId: string, topic: string): string {
  return `devices/${deviceId}/${topic}`;
}

export function deviceTopics(deviceId: string): DeviceTopics {
  return {
    subtree: deviceTopic(deviceId, '#'),
    status: `fleetcert/devices/${deviceId}/status`,
    command: `fleetcert/devices/${deviceId}/command`,
    bridge: `$fleetcert/devices/${deviceId}/bridge`,
  };
}
/** What the server subscribes to for every device's status. */
export const ALL_STATUS_TOPICS = deviceTopics('+').status;
/** What the server subscribes to for the bridge state of devices in local broker mode. */
export const ALL_BRIDGE_TOPICS = deviceTopics('+').bridge;

/** The device id in a status, command or bridge topic, or undefined. */
export function deviceIdFromTopic(topic: string): string | undefined {
  const match = /^(?:fleetcert\/devices\/([^/+#]+)\/(?:status|command)|\$fleetcert\/devices\/([^/+#]+)\/bridge)$/.exec(topic);
  return match?.[1] ?? match?.[2];
}

export type AclAccess = 'read' | 'write' | 'readwrite';

export interface AclRules {
  /** Rules for every device, with `%u` standing for its CN. */
  readonly devicePatterns: readonly { access: AclAccess; topic: string }[];
  /** Rules for fleetcert's own identity. */
  readonly server: readonly { access: AclAccess; topic: string }[];
  /** Rules for the loopback admin user: one-shot commands from the operator's CLI. */
  readonly admin: readonly { access: AclAccess; topic: string }[];
}

export function aclRules(): AclRules {
  const own = deviceTopics('%u');
  const any = deviceTopics('+');
  return {
    devicePatterns: [
      { access: 'readwrite', topic: own.subtree },
      { access: 'write', topic: own.status },
      { access: 'read', topic: own.command },
      { access: 'write', topic: own.bridge },
    ],
    server: [
      { access: 'read', topic: any.status },
      { access: 'read', topic: any.bridge },
      { access: 'write', topic: any.command },
    ],
    admin: [{ access: 'write', topic: any.command }],
  };
}
