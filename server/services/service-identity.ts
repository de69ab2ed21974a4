/**
 * Backend consumers (Node-RED, Telegraf, a database writer) and how their certificates are told
 * apart from a device's. A service certificate is issued by the issuing CA like any client
 * certificate, so Mosquitto chains it, but:
 * - its CN is `service:<name>` and only the `service-client` profile signs such a subject: the
 *   colon is outside the device-id alphabet, so no device (CN = device id) can ever carry it;
 * - with use_identity_as_username the CN is its MQTT username, so the ACL's `user service:<name>`
 *   block (its grants) applies to it and to nothing else;
 * - its subject carries O = SERVICE_ORGANIZATION, which the device profile never writes.
 */
import { SERVICE_CN_PREFIX } from '../authority/certificate-profiles.js';
import { parseClientName } from '../pki/issue-client-credentials.js';

export const SERVICE_ORGANIZATION = 'fleetcert services';

export function parseServiceName(name: string): string {
  return parseClientName('service', name);
}

/** The certificate CN, MQTT username and client id of a service. */
export function serviceCommonName(name: string): string {
  return `${SERVICE_CN_PREFIX}${parseServiceName(name)}`;
}
