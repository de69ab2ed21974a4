/**
 * Resolves a `.local` name over mDNS (RFC 6762), as nss-mdns would: boards often lack it, so
 * getaddrinfo cannot resolve `.local`. Bounded: asks for A and AAAA, asks again every 1.1 s
 * (avahi ignores a repeat within one second) and gives up after `timeoutMs`. The first answer
 * with a usable address wins (usable-addresses.ts); every connection that follows is verified
 * against the pinned CA, so the answer only says where to go.
 */
import { networkInterfaces } from 'node:os';
import { openMdnsSocket, type MdnsRecord } from '../../shared/mdns/mdns-socket.js';
import { localNetwork, usableAddresses } from './usable-addresses.js';

export const MDNS_REQUERY_MS = 1_100;

export function isMdnsName(host: string): boolean {
  return /\.local\.?$/i.test(host);
}

/**
 * Usable addresses of `host`, best first; empty when nothing answered within `timeoutMs`.
 * Rejects when the socket failed (mDNS port unavailable): that is not "nobody answered".
 */
export function resolveMdnsHost(host: string, timeoutMs = 3_000): Promise<string[]> {
  const name = host.replace(/\.$/, '').toLowerCase();
  return new Promise((resolve, reject) => {
    let done = false;
    let failure: Error | undefined;
    const socket = openMdnsSocket({ onError: (err) => (failure ??= err) });
    const finish = (addresses: string[]) => {
      if (done) return;
      done = true;
      clearInterval(requery);
      clearTimeout(timer);
      socket.destroy();
      if (addresses.length === 0 && failure) reject(failure);
      else resolve(addresses);
    };
    socket.onResponse((packet, from) => {
      const records: readonly MdnsRecord[] = [...(packet.answers ?? []), ...(packet.additionals ?? [])];
      const candidates = records
        .filter((r) => (r.type === 'A' || r.type === 'AAAA') && r.ttl > 0 && r.name.toLowerCase() === name)
        .map((r) => String(r.data));
      const usable = usableAddresses(candidates, from.address, localNetwork(networkInterfaces()));
      if (usable.length > 0) finish(usable);
    });
    // One question per packet: avahi answers a packet asking for both with the AAAA record alone.
    const ask = () => {
      socket.query([{ name, type: 'A' }]);
      socket.query([{ name, type: 'AAAA' }]);
    };
    let requery: NodeJS.Timeout | undefined;
    socket.ready.then(
      () => {
        if (done) return;
        ask();
        requery = setInterval(ask, MDNS_REQUERY_MS);
      },
      () => finish([]),
    );
    const timer = setTimeout(() => finish([]), timeoutMs);
  });
}
