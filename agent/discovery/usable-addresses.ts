/**
 * Which of the addresses an mDNS answer names this board can use, best first: pure, with the
 * board's own interfaces as a parameter. Left out: link-local IPv6 without a zone (an AAAA
 * record cannot carry one; connecting to it fails), loopback unless the answer came from this
 * host, and, when some address lies on one of the board's own IPv4 subnets, the IPv4 addresses
 * that do not (another segment of a multi-homed server, a stale lease). On-link IPv4 first,
 * then the remaining IPv4, then IPv6.
 */
import { isIP, isIPv4 } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { inIpv4Subnet, isLinkLocalIpv6, isLoopback } from '../../shared/net/ipv4-subnet.js';

export interface LocalNetwork {
  /** This board's own addresses. */
  readonly addresses: readonly string[];
  /** Its IPv4 subnets, `192.168.1.20/24`. */
  readonly subnets: readonly string[];
}

export function localNetwork(snapshot: NodeJS.Dict<NetworkInterfaceInfo[]>): LocalNetwork {
  const infos = Object.values(snapshot).flatMap((list) => list ?? []);
  return {
    addresses: infos.map((i) => i.address),
    subnets: infos.filter((i) => i.family === 'IPv4' && i.cidr).map((i) => i.cidr!),
  };
}

/** `responder`: the address the answer came from. */
export function usableAddresses(candidates: readonly string[], responder: string | undefined, local: LocalNetwork): string[] {
  const fromThisHost = responder !== undefined && (isLoopback(responder) || local.addresses.includes(responder));
  const usable = [...new Set(candidates)].filter(
    (a) => isIP(a) !== 0 && !(isLinkLocalIpv6(a) && !a.includes('%')) && (fromThisHost || !isLoopback(a)),
  );
  const onLink = (a: string) => isIPv4(a) && local.subnets.some((cidr) => inIpv4Subnet(a, cidr));
  const anyOnLink = usable.some(onLink);
  const rank = (a: string) => (onLink(a) ? 0 : isIPv4(a) ? 1 : 2);
  return usable.filter((a) => !anyOnLink || !isIPv4(a) || onLink(a)).sort((a, b) => rank(a) - rank(b));
}
