/**
 * Renders the Mosquitto 2.0 configuration that makes the broker enforce the registry: a
 * mutual-TLS listener for devices (identity = certificate CN, client id forced to it, CRL
 * checked) and a loopback-only admin listener the server uses to end revoked sessions.
 * Pure: paths and ports in, text out. Facts it relies on (verified on 2.0.11) are in
 * docs/ARCHITECTURE.md.
 */
import { aclRules, ADMIN_USER, SERVER_IDENTITY, type AclAccess } from '../../shared/protocol/topics.js';

export interface BrokerFiles {
  readonly conf: string;
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
  readonly crlfile: string;
  readonly aclFile: string;
  readonly adminAclFile: string;
  readonly passwordFile: string;
}

export interface RenderParams {
  readonly files: BrokerFiles;
  /** Address the device listener binds (empty: all interfaces). */
  readonly bind: string;
  readonly port: number;
  readonly adminPort: number;
  readonly version: string;
}

export function renderMosquittoConfig(p: RenderParams): string {
  const { files } = p;
  return `# fleetcert broker configuration, written by "fleetcert broker-config" (fleetcert ${p.version}).
# Do not edit: run broker-config again instead. Include it from mosquitto.conf, e.g.
#   ln -s ${files.conf} /etc/mosquitto/conf.d/fleetcert.conf

# Must come before any security option: each listener below has its own.
per_listener_settings true
# Without it a QoS 1 round trip takes ~88 ms instead of ~0.2 ms (Nagle's algorithm).
set_tcp_nodelay true

# Devices: mutual TLS. The certificate CN is the MQTT username (for the ACL) and the client id.
listener ${p.port}${p.bind ? ` ${p.bind}` : ''}
protocol mqtt
cafile ${files.cafile}
certfile ${files.certfile}
keyfile ${files.keyfile}
crlfile ${files.crlfile}
require_certificate true
use_identity_as_username true
use_username_as_clientid true
tls_version tlsv1.2
allow_anonymous false
acl_file ${files.aclFile}

# fleetcert admin: loopback only, one password user. The server connects here with a revoked
# device's client id to end its session (client ids are shared by listeners), and the CLI sends
# commands such as renew-now from here.
listener ${p.adminPort} 127.0.0.1
protocol mqtt
allow_anonymous false
password_file ${files.passwordFile}
acl_file ${files.adminAclFile}
`;
}

const line = (access: AclAccess, topic: string, kind: 'pattern' | 'topic') => `${kind} ${access} ${topic}`;

/** A backend consumer's ACL block: its certificate CN (its MQTT username) and the filters it was granted. */
export interface ServiceAcl {
  readonly commonName: string;
  readonly read: readonly string[];
  readonly write: readonly string[];
}

/** The device listener's ACL; `services` are the active ones (checked filters: see server/services/topic-grant.ts). */
export function renderAcl(services: readonly ServiceAcl[] = []): string {
  const rules = aclRules();
  return [
    '# fleetcert ACL, written by "fleetcert broker-config" and "fleetcert service". Do not edit.',
    '# Every device (%u = its certificate CN) reads and writes only its own topics.',
    ...rules.devicePatterns.map((r) => line(r.access, r.topic, 'pattern')),
    '',
    "# fleetcert's own identity: every device's status, commands to devices.",
    `user ${SERVER_IDENTITY}`,
    ...rules.server.map((r) => line(r.access, r.topic, 'topic')),
    '',
    ...services.flatMap((s) => [
      `# Service ${s.commonName} (fleetcert service issue): what it was granted, nothing else.`,
      `user ${s.commonName}`,
      ...s.read.map((topic) => line('read', topic, 'topic')),
      ...s.write.map((topic) => line('write', topic, 'topic')),
      '',
    ]),
  ].join('\n');
}

/** The admin listener's ACL: its one user may send commands to devices, nothing else. */
export function renderAdminAcl(): string {
  return [
    '# fleetcert admin listener (loopback): ends revoked sessions, sends operator commands.',
    `user ${ADMIN_USER}`,
    ...aclRules().admin.map((r) => line(r.access, r.topic, 'topic')),
    '',
  ].join('\n');
}
