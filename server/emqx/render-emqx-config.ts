/**
 * The EMQX 5 side of `broker-config --kind emqx` (docs/BROKERS.md): the settings EMQX needs to
 * enforce the registry as Mosquitto does, and its file-authorization ACL. Pure: paths in, text out.
 * - the SSL listener requires a client certificate from the fleet CA (verify_peer,
 *   fail_if_no_peer_cert) and checks CRLs;
 * - the certificate CN is the username and the client id (peer_cert_as_username/_clientid = cn),
 *   so a device id is tied to its certificate and `${username}` in the ACL is the CN;
 * - the ACL comes from the same topic builder as Mosquitto's (shared/protocol/topics.ts), with
 *   services' grants, and ends in deny; `authorization.no_match = deny` backs it up.
 * Not run against a real EMQX in this project's tests: golden files only (docs/BROKERS.md says so).
 */
import { aclRules, SERVER_IDENTITY, type AclAccess } from '../../shared/protocol/topics.js';
import type { ServiceAcl } from '../mosquitto/render-mosquitto-config.js';

export interface EmqxFiles {
  readonly settings: string;
  readonly aclFile: string;
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
  readonly crlfile: string;
}

export interface EmqxRenderParams {
  readonly files: EmqxFiles;
  readonly bind: string;
  readonly port: number;
  readonly version: string;
}

export function renderEmqxSettings(p: EmqxRenderParams): string {
  const { files } = p;
  return `# fleetcert settings for EMQX 5, written by "fleetcert broker-config --kind emqx" (fleetcert ${p.version}).
# Merge into emqx.conf (or set the same values in the Dashboard). certfile/keyfile: keep your own
# public certificate (e.g. Let's Encrypt) if devices verify the broker with brokerTrust "system".
listeners.ssl.default {
  bind = "${p.bind || '0.0.0.0'}:${p.port}"
  ssl_options {
    cacertfile = "${files.cafile}"
    certfile = "${files.certfile}"
    keyfile = "${files.keyfile}"
    verify = verify_peer
    fail_if_no_peer_cert = true
    versions = ["tlsv1.3", "tlsv1.2"]
    # EMQX fetches CRLs from the certificates' CRL distribution point (crl_cache); ${files.crlfile}
    # is the same CRL, for serving it there.
    enable_crl_check = true
  }
}

# The certificate CN is the MQTT username (the ACL's \${username}) and the client id.
mqtt {
  peer_cert_as_username = cn
  peer_cert_as_clientid = cn
}

authorization {
  no_match = deny
  deny_action = disconnect
  cache { enable = false }
  sources = [
    { type = file, enable = true, path = "${files.aclFile}" }
  ]
}
`;
}

const ACTION: Readonly<Record<AclAccess, string>> = { read: 'subscribe', write: 'publish', readwrite: 'all' };

/** An Erlang string literal (filters are checked: no quotes or backslashes reach here, but escape anyway). */
const str = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** Mosquitto's `%u` is EMQX's `${username}`. */
const topic = (t: string) => str(t.replaceAll('%u', '${username}'));

export function renderEmqxAcl(services: readonly ServiceAcl[] = []): string {
  const rules = aclRules();
  const rule = (who: string, access: AclAccess, t: string) => `{allow, ${who}, ${ACTION[access]}, [${topic(t)}]}.`;
  return [
    '%% fleetcert ACL for EMQX 5 file authorization, written by "fleetcert broker-config --kind emqx". Do not edit.',
    '%% Every device (${username} = its certificate CN) reads and writes only its own topics.',
    ...rules.devicePatterns.map((r) => rule('all', r.access, r.topic)),
    '',
    "%% fleetcert's own identity: every device's status, commands to devices.",
    ...rules.server.map((r) => rule(`{username, ${str(SERVER_IDENTITY)}}`, r.access, r.topic)),
    '',
    ...services.flatMap((s) => [
      `%% Service ${s.commonName} (fleetcert service issue): what it was granted, nothing else.`,
      ...s.read.map((t) => rule(`{username, ${str(s.commonName)}}`, 'read', t)),
      ...s.write.map((t) => rule(`{username, ${str(s.commonName)}}`, 'write', t)),
      '',
    ]),
    '{deny, all}.',
    '',
  ].join('\n');
}
