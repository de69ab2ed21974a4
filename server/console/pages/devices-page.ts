/** The device list: filtered, sorted and paged by the registry; 50 rows a page whatever the fleet's size. */
import { DEVICE_SORTS, DEVICE_STATUSES, type DeviceSort } from '../../registry/records.js';
import { minute } from '../../commands/format.js';
import { expiresInSeconds, formatExpiresIn, presenceOf } from '../../fleet/at-a-glance.js';
import { mapText, page, type ConsoleReply, type PageRequest } from '../console-context.js';
import { noticeText } from './notices.js';

export const PAGE_SIZE = 50;
const MAX_PAGE = 1_000_000;

export async function devicesPage(req: PageRequest): Promise<ConsoleReply> {
  const q = req.url.searchParams;
  const status = oneOf(q.get('status'), DEVICE_STATUSES);
  const sort: DeviceSort = oneOf(q.get('sort'), DEVICE_SORTS) ?? 'id';
  const search = (q.get('q') ?? '').trim().slice(0, 64);
  const desc = q.get('desc') === '1';
  const pageNumber = Math.min(MAX_PAGE, Math.max(1, Math.floor(Number(q.get('page') ?? '1')) || 1));
  const result = await req.deps.registry.queryDevices({
    ...(status ? { status } : {}),
    ...(search ? { search } : {}),
    sort,
    descending: desc,
    offset: (pageNumber - 1) * PAGE_SIZE,
    limit: PAGE_SIZE,
  });
  const pages = Math.max(1, Math.ceil(result.total / PAGE_SIZE));
  const link = (n: number) => {
    const params = new URLSearchParams({
      ...(search ? { q: search } : {}),
      ...(status ? { status } : {}),
      sort,
      ...(desc ? { desc: '1' } : {}),
    });
    params.set('page', String(n));
    return `/?${params.toString()}`;
  };
  const rows = result.devices.map(({ device: d, current }) => ({
    id: d.id,
    status: d.status,
    presence: presenceOf(d),
    model: typeof d.metadata.model === 'string' ? d.metadata.model : '-',
    // The agent version: what a fleet-wide upgrade is watched by.
    agent: typeof d.metadata.agentVersion === 'string' ? d.metadata.agentVersion : '-',
    labels: mapText(d.labels),
    token: d.tokenId ?? '-',
    firstSeen: minute(d.firstSeen),
    lastSeen: minute(d.lastSeen),
    serial: current ? current.serial.slice(0, 16) : '-',
    expiresIn: formatExpiresIn(expiresInSeconds(current, req.now)),
  }));
  return page(
    req,
    'devices',
    {
      rows,
      total: result.total,
      statuses: DEVICE_STATUSES,
      sorts: DEVICE_SORTS,
      query: { q: search, status: status ?? '', sort, desc },
      page: pageNumber,
      pages,
      prev: pageNumber > 1 ? link(pageNumber - 1) : undefined,
      next: pageNumber < pages ? link(pageNumber + 1) : undefined,
    },
    { title: 'Devices', nav: 'devices', ...noticeText(q.get('done')) },
  );
}

export function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | undefined {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}
