/** `fleetcert token create|list|revoke`: the fleet bootstrap tokens. */
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { FleetcertError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import { bootstrapFileSchema, brokerTrustSchema, type BrokerTrust } from '../../shared/protocol/bootstrap-file.js';
import type { ApprovalMode, ReenrollMode, TokenRecord } from '../registry/records.js';
import { buildBootstrapFile } from '../tokens/bootstrap-file.js';
import { ID_PATTERN_RULE, newToken, parseLabels } from '../tokens/new-token.js';
import { tokenState } from '../tokens/token-scope.js';
import { initialisedLayout, operatorSource, readRootCertificate, withRegistry } from './data-dir.js';
import { collect, day, row, table } from './format.js';
import { dataDirOption, jsonOption, positiveIntegerOption } from './options.js';

interface CreateOptions {
  dataDir: string;
  name: string;
  expires: string;
  uses?: string;
  idPattern?: string;
  label: string[];
  approval: ApprovalMode;
  reenroll: ReenrollMode;
  enrollUrl?: string;
  brokerTrust?: string;
  out?: string;
  json?: boolean;
}

export function tokenCommand(io: CliIo): Command {
  const token = new Command('token').summary('create, list and revoke fleet bootstrap tokens');

  token
    .command('create')
    .summary('create a fleet token and its bootstrap file')
    .description(
      'Create a fleet bootstrap token. The token is printed once and only its hash is stored. ' +
        'With --out, also write the bootstrap file (token + CA pin) to copy onto device images.',
    )
    .addOption(dataDirOption())
    .requiredOption('--name <name>', 'what this token is for (shown in lists and the audit log)')
    .option('--expires <duration>', 'lifetime: 90m, 12h, 14d, 2w ... or "never"', '14d')
    .option('--uses <n>', 'how many devices may enroll with it (default: unlimited)')
    .option('--id-pattern <glob>', "device ids it may enroll, e.g. 'rpi-*' (* any run, ? one character)")
    .option('--label <key=value>', 'label given to every device enrolled with it (repeatable)', collect, [])
    .addOption(
      new Option('--approval <mode>', 'auto: issue at once; manual: wait for "fleetcert device approve"')
        .choices(['auto', 'manual'])
        .default('auto'),
    )
    .addOption(
      new Option('--reenroll <mode>', 'allow: a known id may enroll again with a new key').choices(['deny', 'allow']).default('deny'),
    )
    .option('--enroll-url <url>', 'enrollment URL written into the bootstrap file (skips mDNS discovery)')
    .option(
      '--broker-trust <trust>',
      "how devices verify the broker: fleet-ca (default), system (a public certificate, e.g. Let's Encrypt) or /path/to/ca.pem on the device",
    )
    .option('--out <file>', 'write the bootstrap file here (0600, never overwrites)')
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  fleetcert token create --name plant3 --uses 200 --expires 14d --id-pattern 'rpi*' \\
      --label site=plant3 --out fleetcert.json
  fleetcert token create --name lab --approval manual --out /media/boot/fleetcert.json

Copy the bootstrap file onto the image's boot partition as fleetcert.json.`,
    )
    .action(async (options: CreateOptions) => {
      const now = new Date();
      const expiresSeconds = options.expires === 'never' ? undefined : parseDuration(options.expires);
      if (options.expires !== 'never' && expiresSeconds === undefined) {
        throw new FleetcertError('usage', `--expires "${options.expires}" is not a duration (e.g. 90m, 12h, 14d, 2w, or never)`);
      }
      const maxUses = options.uses === undefined ? null : positiveIntegerOption('--uses', options.uses);
      if (options.idPattern !== undefined && !ID_PATTERN_RULE.test(options.idPattern)) {
        throw new FleetcertError('usage', `--id-pattern "${options.idPattern}" may hold only A-Z a-z 0-9 . _ - and the wildcards * ?`);
      }
      const labels = parseLabels(options.label);
      const layout = await initialisedLayout(options.dataDir);
      const root = await readRootCertificate(layout);
      const { approval, reenroll } = options;
      const fresh = newToken(
        { name: options.name, expiresSeconds, maxUses, idPattern: options.idPattern ?? null, labels, approval, reenroll },
        now,
      );
      const record = fresh.record;
      const brokerTrust = parseBrokerTrust(options.brokerTrust);
      let bootstrap;
      try {
        bootstrap = buildBootstrapFile(fresh.token, root, options.enrollUrl, brokerTrust);
      } catch {
        throw new FleetcertError('usage', `--enroll-url "${options.enrollUrl}" must be an https:// URL`);
      }
      const out = options.out === undefined ? undefined : resolve(options.out);
      if (out !== undefined) {
        // Written before the token exists in the registry: a failure here leaves no orphan token.
        try {
          await writeFileAtomic(out, JSON.stringify(bootstrapFileSchema.parse(bootstrap), null, 2) + '\n', {
            mode: 0o600,
            exclusive: true,
          });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
            throw new FleetcertError('file_exists', `${out} already exists; refusing to overwrite it`, {
              hint: 'choose another --out path or move the old file away',
            });
          }
          throw err;
        }
      }
      await withRegistry(layout, (registry) => registry.createToken(record, operatorSource()));
      if (options.json) {
        io.stdout(JSON.stringify({ ok: true, token: fresh.token, ...tokenJson(record, now), bootstrapFile: out ?? null }) + '\n');
        return;
      }
      io.stdout(
        [
          `Created token "${record.name}" (id ${record.id})`,
          row('enrollments', maxUses === null ? 'unlimited' : String(maxUses)),
          row('expires', record.expiresAt ? `${record.expiresAt.toISOString()} (${formatDuration(expiresSeconds!)})` : 'never'),
          row('device ids', record.idPattern ?? 'any'),
          row(
            'labels',
            Object.entries(labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ') || '-',
          ),
          row('approval', record.approval),
          row('re-enrollment', record.reenroll === 'allow' ? 'allowed' : 'denied'),
          '',
          'The token (shown only now; only its hash is kept):',
          `  ${fresh.token}`,
          '',
          out
            ? `Bootstrap file: ${out} (0600). Copy it onto the image's boot partition as fleetcert.json.`
            : 'No bootstrap file written (use --out FILE to write one).',
          '',
        ].join('\n'),
      );
    });

  token
    .command('list')
    .summary('list tokens (never their secrets)')
    .addHelpText(
      'after',
      `
Examples:
  fleetcert token list
  fleetcert token list --json | jq -r '.tokens[] | select(.state == "active") | .id'`,
    )
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const tokens = await withRegistry(layout, (registry) => registry.listTokens());
      const now = new Date();
      if (options.json) {
        io.stdout(JSON.stringify({ ok: true, tokens: tokens.map((t) => tokenJson(t, now)) }) + '\n');
        return;
      }
      if (tokens.length === 0) {
        io.stdout('No tokens yet. Create one with "fleetcert token create --name NAME --out fleetcert.json".\n');
        return;
      }
      io.stdout(
        table(
          ['ID', 'NAME', 'STATE', 'USES', 'EXPIRES', 'IDS', 'APPROVAL', 'REENROLL'],
          tokens.map((t) => [
            t.id,
            t.name,
            tokenState(t, now),
            `${t.uses}/${t.maxUses ?? '∞'}`,
            day(t.expiresAt),
            t.idPattern ?? '*',
            t.approval,
            t.reenroll,
          ]),
        ),
      );
    });

  token
    .command('revoke')
    .summary('revoke a token (devices already enrolled keep working)')
    .argument('<id>', 'token id (the part after fct_, as in "token list")')
    .addHelpText(
      'after',
      `
Examples:
  fleetcert token revoke 3f9a1c2b   # the ID column of "fleetcert token list"`,
    )
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (id: string, options: { dataDir: string; json?: boolean }) => {
      const layout = await initialisedLayout(options.dataDir);
      const tokenId = id.replace(/^fct_/, '').split('_')[0]!;
      const found = await withRegistry(layout, (registry) => registry.revokeToken(tokenId, new Date(), operatorSource()));
      if (!found) throw new FleetcertError('token_not_found', `no token with id "${tokenId}"`, { hint: 'see "fleetcert token list"' });
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, id: tokenId, revoked: true }) + '\n'
          : `Token ${tokenId} revoked. Devices enrolled with it keep their certificates.\n`,
      );
    });

  return token;
}

function tokenJson(t: TokenRecord, now: Date) {
  return {
    id: t.id,
    name: t.name,
    state: tokenState(t, now),
    uses: t.uses,
    maxUses: t.maxUses,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    idPattern: t.idPattern,
    labels: t.labels,
    approval: t.approval,
    reenroll: t.reenroll,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

/** `--broker-trust`: a keyword, or the absolute path of a CA file on the device. */
function parseBrokerTrust(value: string | undefined): BrokerTrust | undefined {
  if (value === undefined) return undefined;
  const trust = brokerTrustSchema.safeParse(value.startsWith('/') ? { caFile: value } : value);
  if (!trust.success) throw new FleetcertError('usage', `--broker-trust "${value}" must be fleet-ca, system or an absolute path`);
  return trust.data;
}
