/** What a redirect after an action may say: a fixed key in the URL, a fixed sentence on the page (nothing reflected). */
const NOTICES = {
  approved: 'Approved: the device gets its certificate on its next attempt with that key.',
  reset: 'Reset: the next enrollment binds the id again.',
  revoked: 'Revoked: the CRL is published and the live session ended.',
  revoked_registry: 'Revoked in the registry (no broker configured): it can no longer enroll or renew.',
  renew: 'Renewal requested: the device renews within seconds if connected, else when it next asks.',
  token_revoked: 'Token revoked: devices enrolled with it keep their certificates.',
} as const;

export type NoticeKey = keyof typeof NOTICES;

export function noticeText(key: string | null): { notice?: string } {
  return key !== null && key in NOTICES ? { notice: NOTICES[key as NoticeKey] } : {};
}
