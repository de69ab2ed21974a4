/** IPv4 subnet arithmetic for choosing addresses by link: pure. */
import { isIPv4 } from 'node:net';

function toNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** True when `address` lies in `cidr` (`10.0.0.7/24`, as os.networkInterfaces() gives it). */
export function inIpv4Subnet(address: string, cidr: string): boolean {
  const [network, bits] = cidr.split('/');
  const prefix = Number(bits);
  if (!isIPv4(address) || !network || !isIPv4(network) || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return false;
  const size = 2 ** (32 - prefix);
  return Math.floor(toNumber(address) / size) === Math.floor(toNumber(network) / size);
}

/** fe80::/10: valid only with the zone (interface) it was learnt on. */
export function isLinkLocalIpv6(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
