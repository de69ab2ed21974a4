/**
 * Who may use the console, and how their certificate is told apart from a device's. An admin's
 * certificate is issued by the same issuing CA (so browsers and the console's TLS listener chain
 * it like any client certificate), but:
 * - its CN is `admin:<name>`: the colon is outside the device-id alphabet, so no device id,
 *   and so no device certificate (CN = device id), can ever carry it; at Mosquitto it maps to an
 *   ACL subtree no device uses;
 * - its subject also carries O = ADMIN_ORGANIZATION, which the device profile never writes;
 * - the console trusts it only if its serial is recorded for that admin in the registry.
 */
import { parseClientName } from '../pki/issue-client-credentials.js';

export const ADMIN_ORGANIZATION = 'fleetcert administrators';
export const ADMIN_CN_PREFIX = 'admin:';

export function parseAdminName(name: string): string {
  return parseClientName('admin', name);
}

export function adminCommonName(name: string): string {
  return `${ADMIN_CN_PREFIX}${parseAdminName(name)}`;
}
