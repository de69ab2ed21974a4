/** The audit log, newest first, filtered by action and device, paged by sequence number. */
import type { AuditAction } from '../../registry/records.js';
import { minute } from '../../commands/format.js';
import { page, type ConsoleReply, type PageRequest } from '../console-context.js';
import { oneOf } from './devices-page.js';

const ACTIONS: readonly AuditAction[] = [
  'issued',
  'reissued',
  'renewed',
  'pending',
  'refused',
  'approved',
  'reset',
  'revoked',
  'predecessors_revoked',
  'renew_requested',
  'token_created',
  'token_revoked',
  'admin_saved',
  'admin_removed',
  'console_login',
  'console_refused',
  'service_saved',
  'service_revoked',
];
const AUDIT_PAGE = 100;

export async function auditPage(req: PageRequest): Promise<ConsoleReply> {
  const q = req.url.searchParams;
  const action = oneOf(q.get('action'), ACTIONS);
  const device = (q.get('device') ?? '').trim().slice(0, 64);
  const before = Number(q.get('before'));
  const entries = (
    await req.deps.registry.listAudit({
      ...(action ? { action } : {}),
      ...(device ? { deviceId: device } : {}),
      ...(Number.isSafeInteger(before) && before > 0 ? { beforeSeq: before } : {}),
      limit: AUDIT_PAGE,
    })
  ).reverse();
  const oldest = entries.at(-1);
  const olderQuery =
    oldest && new URLSearchParams({ ...(action ? { action } : {}), ...(device ? { device } : {}), before: String(oldest.seq) });
  const older = entries.length === AUDIT_PAGE && olderQuery ? `/audit?${olderQuery.toString()}` : undefined;
  return page(
    req,
    'audit',
    { entries, actions: ACTIONS, filter: { action: action ?? '', device }, older, fmt: minute },
    { title: 'Audit', nav: 'audit' },
  );
}
