/**
 * The broker's DNS-SD records on one interface, and the answer to a query: pure. PTR
 * `_secure-mqtt._tcp.local` -> the instance, SRV (broker port, host), TXT (enrollment port,
 * contract version), and A/AAAA for the host with this interface's addresses only (an address
 * of another segment is useless, or misleading, to a board on this one). Unique records carry
 * the cache-flush bit, so a board that cached the old address drops it when a new one is
 * announced. TTLs as RFC 6762 10 suggests: 120 s for host records, 75 min for the others.
 */
import type { MdnsQuestion, MdnsRecord } from '../../shared/mdns/mdns-socket.js';
import { MDNS_CONTRACT_VERSION, MDNS_SERVICE_NAME, MDNS_TXT } from '../../shared/protocol/discovery.js';

export interface BrokerService {
  /** Instance name shown in browsers, e.g. "fleetcert broker on pi-gw". */
  readonly name: string;
  /** Host name in the SRV record, `<hostname>.local`. */
  readonly host: string;
  readonly brokerPort: number;
  readonly enrollPort: number;
}

const HOST_TTL = 120;
const SERVICE_TTL = 4500;
const SERVICES_META = '_services._dns-sd._udp.local';

export function serviceType(): string {
  return `${MDNS_SERVICE_NAME}.local`;
}

export function instanceName(service: BrokerService): string {
  // A dot would split the instance label.
  return `${service.name.replace(/\./g, '-')}.${serviceType()}`;
}

export function addressRecords(service: BrokerService, addresses: readonly string[], ttl = HOST_TTL): MdnsRecord[] {
  return addresses.map((address) => ({
    name: service.host,
    type: address.includes(':') ? ('AAAA' as const) : ('A' as const),
    ttl,
    data: address,
    flush: true,
  }));
}

/** Everything this interface announces. */
export function brokerRecords(service: BrokerService, addresses: readonly string[]): MdnsRecord[] {
  const instance = instanceName(service);
  return [
    { name: serviceType(), type: 'PTR', ttl: SERVICE_TTL, data: instance },
    { name: SERVICES_META, type: 'PTR', ttl: SERVICE_TTL, data: serviceType() },
    { name: instance, type: 'SRV', ttl: HOST_TTL, data: { port: service.brokerPort, target: service.host }, flush: true },
    {
      name: instance,
      type: 'TXT',
      ttl: SERVICE_TTL,
      data: [`${MDNS_TXT.enrollPort}=${service.enrollPort}`, `${MDNS_TXT.version}=${MDNS_CONTRACT_VERSION}`],
      flush: true,
    },
    ...addressRecords(service, addresses),
  ];
}

/** The records that answer `questions`, with the SRV, TXT and addresses a browser needs next as additionals. */
export function answerQuery(
  records: readonly MdnsRecord[],
  questions: readonly MdnsQuestion[],
): { answers: MdnsRecord[]; additionals: MdnsRecord[] } | undefined {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const answers = records.filter((r) => questions.some((q) => same(q.name, r.name) && (q.type === 'ANY' || q.type === r.type)));
  if (answers.length === 0) return undefined;
  const related = new Set<string>();
  for (const answer of answers) {
    if (answer.type === 'PTR') related.add(String(answer.data).toLowerCase());
    if (answer.type === 'SRV') related.add((answer.data as { target: string }).target.toLowerCase());
  }
  for (const r of records)
    if (r.type === 'SRV' && related.has(r.name.toLowerCase())) related.add((r.data as { target: string }).target.toLowerCase());
  const additionals = records.filter((r) => !answers.includes(r) && r.type !== 'PTR' && related.has(r.name.toLowerCase()));
  return { answers, additionals };
}
