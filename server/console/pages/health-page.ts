/** Expiry and health at a glance: devices by state, the expiry plot, enrollments per hour, silent devices. */
import { parseDuration, formatDuration } from '../../../shared/duration.js';
import { DEVICE_STATUSES } from '../../registry/records.js';
import { minute } from '../../commands/format.js';
import { expiryPlot } from '../expiry-plot.js';
import { page, type ConsoleReply, type PageRequest } from '../console-context.js';

const HOUR_ACTIONS = ['issued', 'reissued', 'renewed', 'pending', 'refused'] as const;
const SILENT_SHOWN = 20;

export async function healthPage(req: PageRequest): Promise<ConsoleReply> {
  const { registry } = req.deps;
  const silentSeconds = parseDuration(req.url.searchParams.get('silent') ?? '1d') ?? 86_400;
  const summary = await registry.fleetSummary(req.now, req.deps.lifetimeDays);
  const counts = await registry.countAudit(HOUR_ACTIONS, new Date(req.now.getTime() - 24 * 3600_000));
  const hours = new Map<number, { issued: number; renewed: number; pending: number; refused: number; codes: Map<string, number> }>();
  for (const c of counts) {
    const key = c.hour.getTime();
    const h = hours.get(key) ?? { issued: 0, renewed: 0, pending: 0, refused: 0, codes: new Map<string, number>() };
    if (c.action === 'refused') {
      h.refused += c.count;
      h.codes.set(c.code ?? '?', (h.codes.get(c.code ?? '?') ?? 0) + c.count);
    } else if (c.action === 'renewed') h.renewed += c.count;
    else if (c.action === 'pending') h.pending += c.count;
    else h.issued += c.count;
    hours.set(key, h);
  }
  const silent = await registry.queryDevices({
    status: 'active',
    silentSince: new Date(req.now.getTime() - silentSeconds * 1000),
    sort: 'last_seen',
    limit: SILENT_SHOWN,
  });
  return page(
    req,
    'health',
    {
      states: DEVICE_STATUSES.map((status) => ({ status, count: summary.byStatus[status] })),
      online: summary.online,
      expired: summary.expired,
      plot: expiryPlot(summary.expiringPerDay, req.now),
      hours: [...hours.entries()]
        .sort(([a], [b]) => b - a)
        .map(([hour, h]) => ({
          hour: minute(new Date(hour)),
          ...h,
          codes: [...h.codes.entries()].map(([code, n]) => `${code} ×${n}`).join(', ') || '-',
        })),
      silentFor: formatDuration(silentSeconds),
      silent: silent.devices.map(({ device }) => ({ id: device.id, lastSeen: minute(device.lastSeen) })),
      silentTotal: silent.total,
    },
    { title: 'Health', nav: 'health' },
  );
}
