/**
 * Announces the broker on the local network with mDNS: `_secure-mqtt._tcp` on the broker's
 * port, host `<hostname>.local`, TXT `fleetcert=<enrollment port>` and `v=1`, so a freshly
 * flashed board finds both without configuration. Discovery only says where to go; devices
 * verify everything against their pinned CA.
 *
 * One responder per interface (advertised-interfaces.ts), each sending from its own interface
 * and answering only queries from its own subnets (or from no known subnet: a board with a
 * stray address still hears every segment) with its own addresses. The interfaces are polled:
 * os.networkInterfaces() is one getifaddrs(3) call, cheap at this interval, needs no child
 * process to supervise or parse (`ip monitor`), nor iproute2 on the host, and works the same in
 * the hardened unit and on Node 18 and 20; netlink is out of Node's reach. A new interface or
 * address is announced at once, twice (RFC 6762 8.3), a vanished address gets a goodbye (TTL 0).
 * Lifecycle: the constructor assigns, start() announces, stop() is idempotent and bounded.
 */
import { networkInterfaces } from 'node:os';
import type { Logger } from '../../shared/log/logger.js';
import { MDNS_PORT, openMdnsSocket, type MdnsRecord, type MdnsSocket } from '../../shared/mdns/mdns-socket.js';
import { inIpv4Subnet } from '../../shared/net/ipv4-subnet.js';
import { MDNS_SERVICE_NAME } from '../../shared/protocol/discovery.js';
import { advertisedInterfaces, type AdvertisedInterface } from './advertised-interfaces.js';
import { addressRecords, answerQuery, brokerRecords, type BrokerService } from './broker-records.js';

export interface AdvertiseOptions extends BrokerService {
  /** Announce only on these interfaces (loopback only when named); all up ones when empty. */
  readonly interfaces?: readonly string[];
  readonly log: Logger;
}

interface Responder {
  readonly plan: AdvertisedInterface;
  readonly socket: MdnsSocket;
  /** When each answer (by the names and types it holds) was last multicast on this interface. */
  readonly lastAnswered: Map<string, number>;
}

/** How often the interfaces are read: a change is announced within this. */
const POLL_MS = 2_000;
/** RFC 6762 8.3: an announcement is sent at least twice, one second apart. */
const ANNOUNCE_REPEAT_MS = 1_000;
/** RFC 6762 6: the same records are multicast on an interface at most once a second, however many ask (a query flood stays a trickle). */
const MIN_ANSWER_INTERVAL_MS = 1_000;

export class BrokerAdvertisement {
  private readonly responders = new Map<string, Responder>();
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: AdvertiseOptions) {}

  start(): void {
    const { options } = this;
    options.log.info('advertising the broker over mDNS', {
      event: 'mdns_advertising',
      type: MDNS_SERVICE_NAME,
      host: options.host,
      port: options.brokerPort,
      enrollPort: options.enrollPort,
      only: options.interfaces?.length ? options.interfaces : 'every interface that is up',
    });
    this.follow();
    this.poll = setInterval(() => this.follow(), POLL_MS);
    this.poll.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.poll);
    for (const timer of this.timers) clearTimeout(timer);
    const goodbyes = [...this.responders.values()].map(async ({ plan, socket }) => {
      // Best effort and bounded: a board's cache forgets the broker now rather than in 75 minutes.
      await Promise.race([socket.respondAndWait({ answers: withTtl(brokerRecords(this.options, plan.addresses), 0) }), delay(1_000)]);
      socket.destroy();
    });
    this.responders.clear();
    await Promise.all(goodbyes);
  }

  /** Brings the responders in line with the interfaces as they are now. */
  private follow(): void {
    if (this.stopped) return;
    const { options } = this;
    let plans: AdvertisedInterface[];
    try {
      plans = advertisedInterfaces(networkInterfaces(), options.interfaces);
    } catch (err) {
      options.log.warn('could not read the network interfaces', { event: 'mdns_interfaces_unreadable', err });
      return;
    }
    const wanted = new Map(plans.map((p) => [p.name, p]));
    for (const [name, responder] of this.responders) {
      if (wanted.has(name)) continue;
      this.responders.delete(name);
      responder.socket.destroy();
      options.log.info('stopped announcing on an interface that went away', { event: 'mdns_interface_down', interface: name });
    }
    for (const plan of plans) {
      const current = this.responders.get(plan.name);
      if (current && same(current.plan, plan)) continue;
      const gone = current ? current.plan.addresses.filter((a) => !plan.addresses.includes(a)) : [];
      let socket = current?.socket;
      if (!socket || current?.plan.socketAddress !== plan.socketAddress) {
        // The socket belongs to the address it sends from: a new one when that address changed.
        socket?.destroy();
        socket = this.openResponder(plan);
      }
      const responder = { plan, socket, lastAnswered: current?.socket === socket ? current.lastAnswered : new Map<string, number>() };
      this.responders.set(plan.name, responder);
      options.log.info(current ? 'announcing the new addresses of an interface' : 'announcing the broker on an interface', {
        event: current ? 'mdns_addresses_changed' : 'mdns_interface_up',
        interface: plan.name,
        addresses: plan.addresses,
        ...(gone.length > 0 ? { withdrawn: gone } : {}),
      });
      if (gone.length > 0) socket.respond({ answers: withTtl(addressRecords(options, gone), 0) });
      this.announce(responder);
    }
  }

  /** A socket sending from `plan`'s interface that answers with whatever that interface's records are when asked. */
  private openResponder(plan: AdvertisedInterface): MdnsSocket {
    const { options } = this;
    const name = plan.name;
    const socket = openMdnsSocket({
      interfaceAddress: plan.socketAddress,
      onError: (err) => options.log.warn('mDNS problem', { event: 'mdns_problem', interface: name, err }),
    });
    socket.onQuery((packet, from) => {
      const current = this.responders.get(name);
      if (current?.socket !== socket || !this.servesSender(current.plan, from.address)) return;
      const answer = answerQuery(brokerRecords(options, current.plan.addresses), packet.questions ?? []);
      if (!answer) return;
      // A query from another port than 5353 is a one-shot (legacy) resolver: answered to it alone.
      if (from.port !== MDNS_PORT) return socket.respond(answer, from);
      const key = answer.answers.map((r) => `${r.name}/${r.type}`).join(' ');
      const now = Date.now();
      if (now - (current.lastAnswered.get(key) ?? 0) < MIN_ANSWER_INTERVAL_MS) return;
      current.lastAnswered.set(key, now);
      socket.respond(answer);
    });
    return socket;
  }

  /** A query from one of this interface's subnets, or from none of any interface's. */
  private servesSender(plan: AdvertisedInterface, address: string): boolean {
    if (plan.subnets.some((cidr) => inIpv4Subnet(address, cidr))) return true;
    return ![...this.responders.values()].some((r) => r.plan.subnets.some((cidr) => inIpv4Subnet(address, cidr)));
  }

  private announce(responder: Responder): void {
    const records = () => ({ answers: brokerRecords(this.options, responder.plan.addresses) });
    responder.socket.respond(records());
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped && this.responders.get(responder.plan.name) === responder) responder.socket.respond(records());
    }, ANNOUNCE_REPEAT_MS);
    timer.unref();
    this.timers.add(timer);
  }
}

/** TTL 0 is a goodbye (RFC 6762 10.1): receivers drop the records. */
function withTtl(records: readonly MdnsRecord[], ttl: number): MdnsRecord[] {
  return records.map((r) => ({ ...r, ttl }));
}

function same(a: AdvertisedInterface, b: AdvertisedInterface): boolean {
  return a.socketAddress === b.socketAddress && a.addresses.join() === b.addresses.join() && a.subnets.join() === b.subnets.join();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
