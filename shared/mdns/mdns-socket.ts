/**
 * One mDNS socket (multicast-dns, reached through bonjour-service's own transport so that no
 * second copy of the library is needed), typed for what fleetcert uses: send queries and
 * responses, receive both with the sender's address. `interfaceAddress` ties the socket to one
 * interface: it joins the group there and sends there (without it, the kernel's multicast
 * route picks one interface for every packet, which is how a second segment went unanswered).
 * It still binds 0.0.0.0:5353, because a socket bound to a unicast address receives no multicast.
 */
import { Server } from 'bonjour-service/dist/lib/mdns-server.js';

export const MDNS_PORT = 5353;

export interface MdnsRecord {
  readonly name: string;
  readonly type: 'A' | 'AAAA' | 'PTR' | 'SRV' | 'TXT';
  readonly ttl: number;
  readonly data: unknown;
  /** The cache-flush bit (RFC 6762 10.2): this record replaces every cached one of its name and type. */
  readonly flush?: boolean;
}

export interface MdnsQuestion {
  readonly name: string;
  readonly type: string;
}

export interface MdnsPacket {
  readonly questions?: readonly MdnsQuestion[];
  readonly answers?: readonly MdnsRecord[];
  readonly additionals?: readonly MdnsRecord[];
}

export interface MdnsSender {
  readonly address: string;
  readonly port: number;
}

export interface MdnsSocket {
  /** Resolves once the socket is bound and has joined the group: a query sent earlier could miss its own answer. */
  readonly ready: Promise<void>;
  query(questions: readonly MdnsQuestion[]): void;
  /** Multicast to the group, or unicast to `to` (a legacy query from a port other than 5353). Failures go to onError. */
  respond(packet: { answers: readonly MdnsRecord[]; additionals?: readonly MdnsRecord[] }, to?: MdnsSender): void;
  /** respond(), resolved once the packet is out (or failed): before a destroy() that must not drop it. Never rejects. */
  respondAndWait(packet: { answers: readonly MdnsRecord[] }): Promise<void>;
  onQuery(listener: (packet: MdnsPacket, from: MdnsSender) => void): void;
  onResponse(listener: (packet: MdnsPacket, from: MdnsSender) => void): void;
  /** Leaves the group and closes the socket; safe to call twice. */
  destroy(): void;
}

interface MulticastDns {
  query(packet: { questions: readonly MdnsQuestion[] }, cb?: (err: Error | null) => void): void;
  respond(packet: object, rinfo: MdnsSender | undefined, cb: (err: Error | null) => void): void;
  on(event: 'query' | 'response', listener: (packet: MdnsPacket, rinfo: MdnsSender) => void): void;
  on(event: 'error' | 'warning', listener: (err: Error) => void): void;
  once(event: 'ready', listener: () => void): void;
  destroy(cb: () => void): void;
}

export function openMdnsSocket(options: { interfaceAddress?: string; onError: (err: Error) => void }): MdnsSocket {
  const config = options.interfaceAddress ? { interface: options.interfaceAddress, bind: '0.0.0.0' } : {};
  // The options go to multicast-dns as they are; bonjour-service types them as a service's.
  const mdns = new Server(config as ConstructorParameters<typeof Server>[0], options.onError).mdns as MulticastDns;
  // Warnings are per-packet trouble (a malformed packet from the network, a membership that
  // failed on an interface going away): reported, never thrown.
  mdns.on('warning', options.onError);
  mdns.on('error', options.onError);
  const ready = new Promise<void>((resolve) => mdns.once('ready', resolve));
  return {
    ready,
    query: (questions) => mdns.query({ questions }),
    respond: (packet, to) => mdns.respond(packet, to, (err) => err && options.onError(err)),
    respondAndWait: (packet) =>
      new Promise<void>((resolve) =>
        mdns.respond(packet, undefined, (err) => {
          if (err) options.onError(err);
          resolve();
        }),
      ),
    onQuery: (listener) => mdns.on('query', listener),
    onResponse: (listener) => mdns.on('response', listener),
    destroy: () => mdns.destroy(() => undefined),
  };
}
