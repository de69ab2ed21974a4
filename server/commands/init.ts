/** `fleetcert init`: create the CA and the server's TLS certificates in the data directory. */
import { Command, Option } from 'commander';
import { hostname, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import type { CertificateInfo } from '../../shared/pki/certificate.js';
import { DEFAULT_KEY_TYPE, isKeyType, KEY_TYPES, type KeyType } from '../../shared/pki/key-pair.js';
import { initAuthority } from '../authority/init-authority.js';
import { defaultServerNames } from '../authority/server-names.js';
import { dataLayout } from '../config/data-layout.js';
import { PASSPHRASE_ENV, readOrCreatePassphrase } from '../config/passphrase.js';
import { collect, day, row } from './format.js';
import { dataDirOption, jsonOption } from './options.js';

interface InitOptions {
  dataDir: string;
  passphraseFile?: string;
  san: string[];
  caName: string;
  keyType: string;
  rootKeyOut?: string;
  json?: boolean;
}

export function initCommand(io: CliIo): Command {
  return new Command('init')
    .summary('create the CA and the server TLS certificates')
    .description(
      'Create a root CA (10 years) and an issuing intermediate CA (5 years) with encrypted keys, plus ' +
        'TLS certificates for the broker and the enrollment endpoint, in the data directory. ' +
        'Refuses to run if a CA already exists there.',
    )
    .addOption(dataDirOption())
    .addOption(
      new Option('--passphrase-file <file>', 'file holding the CA key passphrase; created with a random one if missing').env(
        'FLEETCERT_CA_PASSPHRASE_FILE',
      ),
    )
    .option('--san <name>', 'extra DNS name or IP address for the server certificates (repeatable)', collect, [])
    .option('--ca-name <name>', 'name used in the CA subjects ("<name> Root CA")', 'fleetcert')
    .addOption(new Option('--key-type <type>', 'CA and server key type').choices(KEY_TYPES).default(DEFAULT_KEY_TYPE))
    .option('--root-key-out <file>', 'write the encrypted root key here instead of the data directory (offline root)')
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
The CA passphrase comes from --passphrase-file or ${PASSPHRASE_ENV}. Keep it: the server needs it
to sign, and without it the CA keys cannot be used.

The server certificates name this host as <hostname>.local, <hostname>, localhost and every local
address; add names devices use to reach it with --san.

Examples:
  fleetcert init --passphrase-file /etc/fleetcert/ca-passphrase
  fleetcert init --data-dir ./demo --passphrase-file ./demo.pass --san broker.example.net
  fleetcert init --root-key-out /media/usb/fleetcert-root.key   # keep the root offline`,
    )
    .action(async (options: InitOptions) => {
      const keyType = options.keyType;
      if (!isKeyType(keyType)) throw new FleetcertError('usage', `unknown key type ${keyType}`);
      const passphrase = await readOrCreatePassphrase({ file: options.passphraseFile, env: process.env[PASSPHRASE_ENV] });
      const layout = dataLayout(resolve(options.dataDir));
      const started = performance.now();
      const result = await initAuthority({
        layout,
        passphrase: passphrase.value,
        names: defaultServerNames({ hostname: hostname(), interfaces: networkInterfaces() }, options.san),
        now: new Date(),
        keyType: keyType satisfies KeyType,
        caName: options.caName,
        rootKeyOut: options.rootKeyOut === undefined ? undefined : resolve(options.rootKeyOut),
      });
      const seconds = (performance.now() - started) / 1000;
      if (options.json) {
        io.stdout(
          JSON.stringify({
            ok: true,
            dataDir: layout.root,
            root: summary(result.root),
            intermediate: summary(result.intermediate),
            broker: summary(result.broker),
            enroll: summary(result.enroll),
            rootKey: { path: result.rootKeyPath, offline: options.rootKeyOut !== undefined },
            passphrase: { origin: passphrase.origin, generated: passphrase.generated },
            files: layout,
          }) + '\n',
        );
        return;
      }
      io.stdout(
        [
          `Created a fleetcert CA in ${layout.root} (${seconds.toFixed(2)} s)`,
          '',
          row('Root CA', `${result.root.subject}, valid until ${day(result.root.notAfter)}`),
          row('', `SHA-256 ${result.root.fingerprintSha256}`),
          row('', 'devices pin this fingerprint (it goes into every bootstrap file)'),
          row('Issuing CA', `${result.intermediate.subject}, valid until ${day(result.intermediate.notAfter)}`),
          row(
            'Server TLS',
            `${result.broker.subjectCommonName} (broker and enrollment endpoint), valid until ${day(result.broker.notAfter)}`,
          ),
          row('', `names: ${[...result.broker.dnsNames, ...result.broker.ipAddresses].join(', ')}`),
          row(
            'CA passphrase',
            passphrase.generated
              ? `generated into ${passphrase.origin} (0600): back it up, the server needs it`
              : `from ${passphrase.origin}`,
          ),
          row(
            'Root key',
            options.rootKeyOut === undefined
              ? `${result.rootKeyPath} (encrypted)`
              : `${result.rootKeyPath} (encrypted): move it off this host`,
          ),
          '',
          'Files:',
          ...[layout.rootCert, result.rootKeyPath, layout.intermediateCert, layout.intermediateKey, layout.chain]
            .concat([layout.brokerTls.cert, layout.brokerTls.key, layout.enrollTls.cert, layout.enrollTls.key])
            .map((f) => `  ${f}`),
          '',
        ].join('\n'),
      );
    });
}

function summary(info: CertificateInfo) {
  return {
    subject: info.subject,
    serialNumber: info.serialNumber,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    fingerprintSha256: info.fingerprintSha256,
    dnsNames: info.dnsNames,
    ipAddresses: info.ipAddresses,
  };
}
