/**
 * Device ids: the certificate CN, the MQTT username and client id, a topic segment. So they
 * must be safe in all of them: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}` (never `/ + # $`, never
 * empty, never a path trick), and never a name the system uses for itself.
 */

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Names of fleetcert's own identities and of things an ACL or operator could confuse. */
export const RESERVED_DEVICE_IDS: ReadonlySet<string> = new Set([
  'admin',
  'all',
  'anonymous',
  'broker',
  'ca',
  'devices',
  'fleetcert',
  'fleetcert-admin',
  'fleetcert-server',
  'localhost',
  'mosquitto',
  'root',
  'server',
  'sys',
]);

export type DeviceIdProblem = 'invalid' | 'reserved';

/** Why an id is not acceptable, or undefined when it is. Case-insensitive for reserved names. */
export function deviceIdProblem(id: string): DeviceIdProblem | undefined {
  if (!DEVICE_ID_PATTERN.test(id)) return 'invalid';
  if (RESERVED_DEVICE_IDS.has(id.toLowerCase())) return 'reserved';
  return undefined;
}
