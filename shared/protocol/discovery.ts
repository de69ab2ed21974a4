/**
 * The mDNS contract between the server's advertisement and the agent's browse: the broker is
 * `_secure-mqtt._tcp`; its TXT record names the companion enrollment endpoint's port and the
 * version of this contract. deploy/avahi/fleetcert.service carries the same (test/unit/docs.test.ts).
 */
export const MDNS_SERVICE_TYPE = 'secure-mqtt';
export const MDNS_PROTOCOL = 'tcp';

/** TXT keys. */
export const MDNS_TXT = {
  /** The enrollment endpoint's port on the same host. */
  enrollPort: 'fleetcert',
  /** The version of this contract. */
  version: 'v',
} as const;

export const MDNS_CONTRACT_VERSION = '1';

/** `_secure-mqtt._tcp`, as operators and avahi write it. */
export const MDNS_SERVICE_NAME = `_${MDNS_SERVICE_TYPE}._${MDNS_PROTOCOL}`;
