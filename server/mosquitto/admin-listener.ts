/**
 * The loopback admin listener, used two ways:
 * - to end a device's live session: Mosquitto keeps connected clients when the CRL changes, but
 *   all listeners share one client-id namespace, so connecting here with the device's client id
 *   takes the session over and Mosquitto disconnects the device; its reconnect then meets the
 *   new CRL in the TLS handshake;
 * - to send operator commands (renew now) to device command topics.
 */
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { FleetcertError } from '../../shared/errors.js';
import type { DeviceCommand } from '../../shared/protocol/device-status.js';
import { ADMIN_USER, deviceTopics } from '../../shared/protocol/topics.js';

export interface AdminListener {
  /** 127.0.0.1 when absent: the broker on this host. */
  readonly host?: string;
  readonly port: number;
  readonly password: string;
}

async function connectAdmin(admin: AdminListener, clientId: string, timeoutMs: number): Promise<mqtt.MqttClient> {
  try {
    return await mqtt.connectAsync(`mqtt://${adminAddress(admin)}`, {
      clientId,
      username: ADMIN_USER,
      password: admin.password,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      protocolVersion: 5,
    });
  } catch (err) {
    throw new FleetcertError(
      'broker_admin_failed',
      `cannot reach the broker's admin listener on ${adminAddress(admin)}: ${(err as Error).message}`,
      {
        cause: err,
        hint: 'is mosquitto running with the fleetcert configuration? (fleetcert broker-config)',
      },
    );
  }
}

function adminAddress(admin: AdminListener): string {
  const host = admin.host ?? '127.0.0.1';
  return `${host.includes(':') ? `[${host}]` : host}:${admin.port}`;
}

export async function endSession(admin: AdminListener, clientId: string, timeoutMs = 5_000): Promise<void> {
  const client = await connectAdmin(admin, clientId, timeoutMs);
  await client.endAsync();
}

/** Publishes a command to each device's command topic (QoS 1); resolves once all are acknowledged. */
export async function sendCommands(
  admin: AdminListener,
  deviceIds: readonly string[],
  command: DeviceCommand,
  timeoutMs = 5_000,
): Promise<void> {
  const client = await connectAdmin(admin, `fleetcert-cli-${randomBytes(6).toString('hex')}`, timeoutMs);
  try {
    const payload = JSON.stringify(command);
    for (const id of deviceIds) await client.publishAsync(deviceTopics(id).command, payload, { qos: 1 });
  } finally {
    await client.endAsync();
  }
}
