/**
 * The names a device may use to reach this host: what goes into the broker's and the
 * enrollment endpoint's SANs. Pure: the host facts come in as parameters.
 */
import type { NetworkInterfaceInfo } from 'node:os';

export interface HostFacts {
  readonly hostname: string;
  readonly interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

export interface ServerNames {
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
}

/**
 * `<host>.local` first (what mDNS clients use, and the CN), then the bare host name,
 * `localhost`, then every configured address (loopback included, link-local IPv6 left out:
 * its zone id cannot be in a certificate). `extra` entries are added and sorted by kind.
 */
export function defaultServerNames(host: HostFacts, extra: readonly string[] = []): ServerNames {
  const short = host.hostname.split('.')[0]!.toLowerCase();
  const dnsNames = [`${short}.local`, short, 'localhost'];
  const ipAddresses: string[] = [];
  for (const list of Object.values(host.interfaces)) {
    for (const info of list ?? []) {
      if (info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80:')) continue;
      ipAddresses.push(info.address);
    }
  }
  for (const name of extra) {
    if (/^[0-9.]+$/.test(name) || name.includes(':')) ipAddresses.push(name);
    else dnsNames.push(name.toLowerCase());
  }
  return { dnsNames: [...new Set(dnsNames)], ipAddresses: [...new Set(ipAddresses)] };
}

/**
 * Device ids this server must never hand out: its own names. A device certificate whose CN is
 * the server's host name (or an address or SAN of its TLS certificates) would confuse every log,
 * ACL and operator that reads names. Lowercase; compare with the id lowercased.
 */
export function reservedServerIds(hostname: string, certificateNames: readonly string[]): ReadonlySet<string> {
  const short = hostname.split('.')[0]!;
  return new Set([hostname, short, `${short}.local`, ...certificateNames].map((name) => name.toLowerCase()).filter((name) => name !== ''));
}
