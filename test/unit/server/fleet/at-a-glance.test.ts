/** A device at a glance: presence from its last status, and time left on its active certificate. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expiresInSeconds, formatExpiresIn, presenceOf } from '#server/fleet/at-a-glance.js';
import type { CertificateRecord, DeviceRecord } from '#server/registry/records.js';

const now = new Date('2026-06-01T00:00:00Z');
const device = (reportedState: string | null) => ({ reportedState }) as DeviceRecord;
const certificate = (status: CertificateRecord['status'], inSeconds: number) =>
  ({ status, notAfter: new Date(now.getTime() + inSeconds * 1000) }) as CertificateRecord;

test('presence: online or renewing is online; offline and error are offline; no report is never', () => {
  assert.equal(
    [null, 'online', 'renewing', 'offline', 'error'].map((s) => presenceOf(device(s))),
    ['never', 'online', 'online', 'offline', 'offline'],
  );
});

test('expires in: only an active certificate counts; days, then hours, then minutes, then expired', () => {
  assert.is(expiresInSeconds(undefined, now), null);
  assert.is(expiresInSeconds(certificate('revoked', 3600), now), null);
  assert.is(expiresInSeconds(certificate('active', 3600), now), 3600);
  assert.equal(
    [29 * 86400 + 5, 2 * 86400, 2 * 86400 - 1, 3600, 3599, 30, 0, -5].map((s) => formatExpiresIn(s)),
    ['29d', '2d', '47h', '1h', '59m', '1m', 'expired', 'expired'],
  );
  assert.is(formatExpiresIn(null), '-');
});

test.run();
