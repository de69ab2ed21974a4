/**
 * The one module that knows where things live in the server's data directory.
 *
 *   <data>/               0700
 *     ca/                 0700  exists only once init has completed
 *       root.pem                 trust anchor (what devices pin)
 *       root.key          0600  encrypted; absent when the root was taken offline
 *       intermediate.pem         issuing CA
 *       intermediate.key  0600  encrypted
 *       chain.pem                intermediate + root, for clients that want a bundle
 *     registry.sqlite3    0600  tokens, devices, certificates, audit log (SQLite, WAL)
 *     broker.json               written by broker-config: where the broker files are, how to reload it
 *     broker-admin.secret 0600  password of the broker's loopback admin listener
 *     tls/                0700
 *       broker.pem / .key       Mosquitto's server certificate (leaf + intermediate)
 *       enroll.pem / .key       the enrollment endpoint's certificate (leaf + intermediate)
 *       server-client.pem/.key  fleetcert's own MQTT identity (CN fleetcert-server)
 */
import { join } from 'node:path';

export const DEFAULT_DATA_DIR = '/var/lib/fleetcert';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

export interface DataLayout {
  readonly root: string;
  readonly caDir: string;
  readonly rootCert: string;
  readonly rootKey: string;
  readonly intermediateCert: string;
  readonly intermediateKey: string;
  readonly chain: string;
  readonly registry: string;
  readonly brokerSettings: string;
  readonly brokerAdminSecret: string;
  readonly tlsDir: string;
  readonly brokerTls: TlsFiles;
  readonly enrollTls: TlsFiles;
  readonly serverClientTls: TlsFiles;
}

export function dataLayout(root: string): DataLayout {
  const caDir = join(root, 'ca');
  const tlsDir = join(root, 'tls');
  return {
    root,
    caDir,
    rootCert: join(caDir, 'root.pem'),
    rootKey: join(caDir, 'root.key'),
    intermediateCert: join(caDir, 'intermediate.pem'),
    intermediateKey: join(caDir, 'intermediate.key'),
    chain: join(caDir, 'chain.pem'),
    registry: join(root, 'registry.sqlite3'),
    brokerSettings: join(root, 'broker.json'),
    brokerAdminSecret: join(root, 'broker-admin.secret'),
    tlsDir,
    brokerTls: { cert: join(tlsDir, 'broker.pem'), key: join(tlsDir, 'broker.key') },
    enrollTls: { cert: join(tlsDir, 'enroll.pem'), key: join(tlsDir, 'enroll.key') },
    serverClientTls: { cert: join(tlsDir, 'server-client.pem'), key: join(tlsDir, 'server-client.key') },
  };
}
