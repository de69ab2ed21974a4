/**
 * The name lookup of every connection to the broker and the enrollment endpoint (the `lookup`
 * option of net/tls/https): a `.local` name is resolved over mDNS, anything else by the system
 * resolver. Called by Node on every connect, so a broker whose address changed is found at
 * the next reconnect: broker.json keeps the name, never an address.
 */
import { lookup as systemLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIPv4 } from 'node:net';
import { isMdnsName, resolveMdnsHost } from './resolve-mdns-host.js';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family: number) => void;

/** How long one connect waits for an mDNS answer (three queries). */
export const MDNS_LOOKUP_TIMEOUT_MS = 3_000;

export function brokerLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  if (!isMdnsName(hostname)) {
    systemLookup(hostname, options, callback);
    return;
  }
  const fail = (message: string) => callback(Object.assign(new Error(message), { code: 'ENOTFOUND' }), options.all ? [] : '', 0);
  resolveMdnsHost(hostname, MDNS_LOOKUP_TIMEOUT_MS).then(
    (found) => {
      const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => (isIPv4(a) ? 4 : 6) === options.family) : found;
      if (wanted.length === 0) return fail(`no mDNS answer for ${hostname} within ${MDNS_LOOKUP_TIMEOUT_MS} ms`);
      const all = wanted.map((address) => ({ address, family: isIPv4(address) ? 4 : 6 }));
      if (options.all) callback(null, all, 0);
      else callback(null, all[0]!.address, all[0]!.family);
    },
    (err: Error) => fail(`mDNS lookup of ${hostname} failed: ${err.message}`),
  );
}
