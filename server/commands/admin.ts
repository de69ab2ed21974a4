/** `fleetcert admin issue|passwd`: the people who may use the web console, and how they log in. */
import { Command, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { parseDuration } from '../../shared/duration.js';
import { FleetcertError } from '../../shared/errors.js';
import { parseAdminName } from '../admins/admin-identity.js';
import { issueAdminCertificate } from '../admins/issue-admin-certificate.js';
import { hashPassword, MAX_PASSWORD_CHARS } from '../admins/password-hash.js';
import { loadAuthority } from '../authority/authority.js';
import { PASSPHRASE_ENV, readPassphrase } from '../config/passphrase.js';
import { ADMIN_ROLES, type AdminRole } from '../registry/records.js';
import { initialisedLayout, operatorSource, withRegistry } from './data-dir.js';
import { minute, row } from './format.js';
import { dataDirOption, jsonOption, caPassphraseOption } from './options.js';
import { firstLine, readSecretFile, writeExclusive } from './secret-files.js';

const MIN_PASSWORD_CHARS = 12;

interface IssueOptions {
  dataDir: string;
  role: AdminRole;
  p12Out: string;
  p12PassphraseFile?: string;
  lifetime: string;
  passphraseFile?: string;
  json?: boolean;
}

interface PasswdOptions {
  dataDir: string;
  role?: AdminRole;
  passwordFile?: string;
  json?: boolean;
}

export function adminCommand(io: CliIo): Command {
  const admin = new Command('admin').summary('console administrators: client certificates, passwords, removal');

  admin
    .command('issue')
    .summary('issue an admin client certificate (PKCS#12) for the web console')
    .description(
      'Issue a client certificate for the web console (serve --console-listen) and write it with its key as a ' +
        'PKCS#12 file to import into a browser. Its subject (CN admin:<name>, O fleetcert administrators) can never ' +
        'be a device id, and the console accepts it only because its serial is recorded here for <name>. ' +
        'Creates the admin, or sets the role of an existing one.',
    )
    .argument('<name>', 'admin name (a-z 0-9 . _ -)')
    .addOption(new Option('--role <role>', 'viewer sees; operator also acts').choices(ADMIN_ROLES).default('viewer'))
    .requiredOption('--p12-out <file>', 'write the PKCS#12 here (0600, never overwrites)')
    .option('--p12-passphrase-file <file>', 'passphrase of the PKCS#12 (default: a random one, written to <p12-out>.passphrase, 0600)')
    .option('--lifetime <duration>', 'how long the certificate is valid', '365d')
    .addOption(caPassphraseOption('signs the certificate'))
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert admin issue alice --role operator --p12-out alice.p12
  fleetcert admin issue noc --p12-out noc.p12 --p12-passphrase-file noc.pass --lifetime 90d`,
    )
    .action(async (rawName: string, options: IssueOptions) => {
      const name = parseAdminName(rawName);
      const lifetimeSeconds = parseDuration(options.lifetime);
      if (lifetimeSeconds === undefined) throw new FleetcertError('usage', `--lifetime "${options.lifetime}" is not a duration (e.g. 90d)`);
      const out = resolve(options.p12Out);
      const passphraseFile = options.p12PassphraseFile === undefined ? `${out}.passphrase` : resolve(options.p12PassphraseFile);
      const p12Passphrase =
        options.p12PassphraseFile === undefined
          ? randomBytes(18).toString('base64url')
          : await readSecretFile(passphraseFile, '--p12-passphrase-file');
      const layout = await initialisedLayout(options.dataDir);
      const authority = await loadAuthority(
        layout,
        (await readPassphrase({ file: options.passphraseFile, env: process.env[PASSPHRASE_ENV] })).value,
      );
      const now = new Date();
      const issued = await issueAdminCertificate({ authority, name, lifetimeSeconds, now, p12Passphrase });
      // Files first, registry last: a failure leaves no recorded certificate whose key nobody holds.
      await writeExclusive(out, issued.p12);
      if (options.p12PassphraseFile === undefined) await writeExclusive(passphraseFile, p12Passphrase + '\n');
      const saved = await withRegistry(layout, (registry) =>
        registry.saveAdmin({
          name,
          role: options.role,
          certificate: { serial: issued.serial, notAfter: issued.notAfter },
          now,
          source: operatorSource(),
        }),
      );
      if (options.json) {
        const result = {
          ok: true,
          name,
          role: saved.role,
          serial: issued.serial,
          notAfter: issued.notAfter.toISOString(),
          p12: out,
          passphraseFile,
        };
        io.stdout(JSON.stringify(result) + '\n');
        return;
      }
      io.stdout(
        [
          `Issued a console certificate for ${name} (${saved.role})`,
          row('serial', issued.serial),
          row('valid until', minute(issued.notAfter)),
          row('PKCS#12', `${out} (0600)`),
          row('its passphrase', passphraseFile),
          '',
          'Import the PKCS#12 into the browser (certificates, "Your certificates"), then open the console.',
          '',
        ].join('\n'),
      );
    });

  admin
    .command('passwd')
    .summary('set the console password of an admin (creating the admin if new)')
    .description(
      `Set an admin's console password, read from --password-file or the first line of standard input ` +
        `(${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters). Only an scrypt hash is stored.`,
    )
    .argument('<name>', 'admin name')
    .addOption(new Option('--role <role>', 'set the role too (a new admin is a viewer unless told)').choices(ADMIN_ROLES))
    .option('--password-file <file>', 'read the password from this file (first line)')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert admin passwd bob --role viewer            # type the password, then Enter and Ctrl-D
  fleetcert admin passwd alice --password-file /run/secrets/alice`,
    )
    .action(async (rawName: string, options: PasswdOptions) => {
      const name = parseAdminName(rawName);
      // Before the password is typed: a wrong data dir should not cost the operator a prompt.
      const layout = await initialisedLayout(options.dataDir);
      const password =
        options.passwordFile === undefined
          ? firstLine(await readStdin())
          : await readSecretFile(resolve(options.passwordFile), '--password-file');
      if (password.length < MIN_PASSWORD_CHARS || password.length > MAX_PASSWORD_CHARS) {
        throw new FleetcertError('usage', `the password must have ${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters`);
      }
      const passwordHash = await hashPassword(password);
      const saved = await withRegistry(layout, async (registry) => {
        const role = options.role ?? (await registry.getAdmin(name))?.role ?? 'viewer';
        return registry.saveAdmin({ name, role, passwordHash, now: new Date(), source: operatorSource() });
      });
      io.stdout(options.json ? JSON.stringify({ ok: true, name, role: saved.role }) + '\n' : `Password set for ${name} (${saved.role}).\n`);
    });

  admin
    .command('remove')
    .summary('remove an admin: password and certificates stop working at once')
    .description(
      'Remove an admin, their password and the record of every certificate issued to them: a running console ' +
        'refuses them from their next request (certificates are checked against the registry on every request).',
    )
    .argument('<name>', 'admin name')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert admin remove alice`,
    )
    .action(async (rawName: string, options: { dataDir: string; json?: boolean }) => {
      const name = parseAdminName(rawName);
      const layout = await initialisedLayout(options.dataDir);
      const removed = await withRegistry(layout, (registry) => registry.removeAdmin(name, new Date(), operatorSource()));
      if (!removed) throw new FleetcertError('usage', `no admin "${name}"`);
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, name, removed: true }) + '\n'
          : `Removed ${name}: their password and certificates no longer open the console.\n`,
      );
    });

  return admin;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 4 * MAX_PASSWORD_CHARS) throw new FleetcertError('usage', 'standard input is too long for a password');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
