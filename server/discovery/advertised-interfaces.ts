/**
 * Which interfaces the broker is announced on, and with which addresses: pure, from a snapshot
 * of os.networkInterfaces() (which lists only interfaces that are up and running). Every
 * non-loopback interface with an IPv4 address, or exactly those named; loopback only when
 * named. Link-local IPv6 (fe80::) is never announced: an AAAA record cannot carry the zone, and
 * an unscoped fe80:: address is what agents chose and could not connect to. An interface
 * without IPv4 gets no announcement yet (the mDNS socket needs an IPv4 address to send from);
 * it gets one when DHCP gives it an address, at the next poll.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { isLinkLocalIpv6 } from '../../shared/net/ipv4-subnet.js';

export interface AdvertisedInterface {
  readonly name: string;
  /** The interface's first IPv4 address: where its mDNS socket sends from. */
  readonly socketAddress: string;
  /** Its IPv4 subnets (`10.0.0.1/24`): a query from one of them came over this interface. */
  readonly subnets: readonly string[];
  /** What its A/AAAA records say, IPv4 first. */
  readonly addresses: readonly string[];
}

export function advertisedInterfaces(
  snapshot: NodeJS.Dict<NetworkInterfaceInfo[]>,
  only: readonly string[] | undefined,
): AdvertisedInterface[] {
  const chosen: AdvertisedInterface[] = [];
  for (const [name, infos = []] of Object.entries(snapshot).sort(([a], [b]) => a.localeCompare(b))) {
    const named = only?.includes(name) ?? false;
    if (only && only.length > 0 && !named) continue;
    if (infos.some((i) => i.internal) && !named) continue;
    const ipv4 = infos.filter((i) => i.family === 'IPv4');
    const ipv6 = infos.filter((i) => i.family === 'IPv6' && !isLinkLocalIpv6(i.address));
    if (ipv4.length === 0 || !ipv4[0]!.cidr) continue;
    chosen.push({
      name,
      socketAddress: ipv4[0]!.address,
      subnets: ipv4.flatMap((i) => (i.cidr ? [i.cidr] : [])),
      addresses: [...ipv4, ...ipv6].map((i) => i.address),
    });
  }
  return chosen;
}
