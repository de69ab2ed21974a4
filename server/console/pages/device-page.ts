/** One device: its record, certificate history and audit trail; and the operator's actions on it. */
import { FleetcertError } from '../../../shared/errors.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../../shared/pki/crl.js';
import { sendCommands } from '../../mosquitto/admin-listener.js';
import { revokeDevice } from '../../revocation/revoke-device.js';
import { presenceOf } from '../../fleet/at-a-glance.js';
import { minute } from '../../commands/format.js';
import { mapText, page, redirect, type ConsoleReply, type PageRequest } from '../console-context.js';
import { noticeText } from './notices.js';

export const DEVICE_ACTIONS = ['approve', 'reset', 'revoke', 'renew'] as const;
export type DeviceAction = (typeof DEVICE_ACTIONS)[number];

export async function devicePage(req: PageRequest, options: { status?: number; error?: string } = {}): Promise<ConsoleReply> {
  const id = req.params[0]!;
  const { registry } = req.deps;
  const d = await registry.getDevice(id);
  if (!d) throw new FleetcertError('device_not_found', `no device "${id.slice(0, 64)}"`);
  const waiting = d.status === 'pending' || d.status === 'approved';
  return page(
    req,
    'device',
    {
      d,
      presence: presenceOf(d),
      labels: mapText(d.labels),
      metadata: mapText(d.metadata),
      contested: waiting ? (await registry.contestedAttempts(id)).length : 0,
      certificates: (await registry.listCertificates(id)).reverse(),
      audit: (await registry.listAudit({ deviceId: id, limit: 100 })).reverse(),
      canAct: req.admin.role === 'operator',
      reasons: Object.keys(REVOCATION_REASONS),
      fmt: minute,
    },
    { title: id, nav: 'devices', ...noticeText(req.url.searchParams.get('done')), ...options },
  );
}

/** An operator's action; the registry call is the compare-and-swap, and it audits with `req.source`. */
export async function deviceAction(req: PageRequest, action: DeviceAction): Promise<ConsoleReply> {
  const id = req.params[0]!;
  const { registry, broker, authority, log } = req.deps;
  const back = (done: string) => redirect(`/devices/${encodeURIComponent(id)}?done=${done}`);
  if ((action === 'reset' || action === 'revoke') && req.form.get('confirm') !== id) {
    return devicePage(req, { status: 400, error: `Not done: type the device id "${id}" to confirm.` });
  }
  switch (action) {
    case 'approve': {
      // The key the operator saw on the page: approval is conditional on it (a key that changed since is not approved).
      const key = req.form.get('key') ?? '';
      if (!/^[0-9a-f]{64}$/.test(key)) return devicePage(req, { status: 400, error: 'Not done: the form carries no key fingerprint.' });
      const approved = await registry.approveDevice(id, key, req.now, req.source);
      if (!approved) return devicePage(req, { status: 409, error: 'Not approved: the device is no longer pending with the key shown.' });
      return back('approved');
    }
    case 'reset':
      if (!(await registry.resetDevice(id, req.now, req.source))) throw new FleetcertError('device_not_found', `no device "${id}"`);
      return back('reset');
    case 'revoke': {
      const reason = req.form.get('reason') ?? 'unspecified';
      if (!(reason in REVOCATION_REASONS)) return devicePage(req, { status: 400, error: 'Not done: unknown revocation reason.' });
      const outcome = await revokeDevice({
        registry,
        deviceId: id,
        reason: reason as RevocationReason,
        now: req.now,
        source: req.source,
        authority,
        broker,
        log,
      });
      return back(outcome.crl ? 'revoked' : 'revoked_registry');
    }
    case 'renew': {
      const reason = (req.form.get('reason') ?? '').slice(0, 128) || 'operator request';
      const targets = await registry.requestRenewal([id], reason, req.now, req.source);
      if (targets.length === 0) return devicePage(req, { status: 409, error: 'Not requested: the device has no active certificate.' });
      if (broker) {
        const admin = { port: broker.settings.adminPort, password: broker.adminPassword };
        // Recorded already: if the push fails the device still learns it from its renewal info.
        await sendCommands(admin, targets, { command: 'renew', reason, issuedAt: req.now.toISOString() }).catch((err: unknown) =>
          log.warn('renew command not published', { event: 'renew_push_failed', deviceId: id, err }),
        );
      }
      return back('renew');
    }
  }
}
