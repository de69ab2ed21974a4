/**
 * The avahi service file (avahi.service(5)) that announces the broker on hosts where
 * avahi-daemon already owns mDNS (Raspberry Pi OS, most desktops): the same contract as
 * `serve --mdns` (shared/protocol/discovery.ts), made by avahi, which answers on every
 * interface, follows address changes and publishes `<hostname>.local` itself. Pure.
 * deploy/avahi/fleetcert.service is this file for the default ports.
 */
import { MDNS_CONTRACT_VERSION, MDNS_SERVICE_NAME, MDNS_TXT } from '../../shared/protocol/discovery.js';

export interface AvahiServiceInput {
  readonly brokerPort: number;
  readonly enrollPort: number;
  /** The broker's name as devices verify it (broker-config --host). */
  readonly host: string;
  /** This machine's host name, whose `.local` name avahi publishes with its addresses. */
  readonly systemHostname: string;
}

/** True when avahi's own `<hostname>.local` is the broker's name: no `<host-name>` element is needed. */
export function avahiOwnsHost(input: Pick<AvahiServiceInput, 'host' | 'systemHostname'>): boolean {
  return input.host.toLowerCase() === `${input.systemHostname.split('.')[0]!.toLowerCase()}.local`;
}

export function renderAvahiService(input: AvahiServiceInput): string {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  // Another name than avahi's own needs its address published too: /etc/avahi/hosts (docs/INSTALL.md).
  const hostName = avahiOwnsHost(input) ? '' : `    <host-name>${escape(input.host)}</host-name>\n`;
  return `<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<!-- Written by fleetcert serve: the broker (mutual TLS) and, in TXT ${MDNS_TXT.enrollPort}=, its enrollment endpoint (EST). -->
<service-group>
  <name replace-wildcards="yes">fleetcert broker on %h</name>
  <service>
    <type>${MDNS_SERVICE_NAME}</type>
${hostName}    <port>${input.brokerPort}</port>
    <txt-record>${MDNS_TXT.enrollPort}=${input.enrollPort}</txt-record>
    <txt-record>${MDNS_TXT.version}=${MDNS_CONTRACT_VERSION}</txt-record>
  </service>
</service-group>
`;
}
