/** `fleetcert db migrate`: bring a PostgreSQL registry to this fleetcert's schema (serve refuses one that is behind). */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { databaseChoice, postgresConnection } from '../config/database-url.js';
import { copySqliteToPostgres } from '../registry/copy-registry.js';
import { openPostgresRegistry, postgresSchemaVersion } from '../registry/postgres-registry.js';
import type { DatabaseOptions } from './data-dir.js';
import { databaseOptions, jsonOption } from './options.js';

export function dbCommand(io: CliIo): Command {
  const db = new Command('db').summary('manage the registry database (PostgreSQL)');
  const migrate = db
    .command('migrate')
    .summary('apply the missing schema migrations to a PostgreSQL registry')
    .description(
      'Applies, one transaction each, the migrations the database lacks (safe to run from several hosts at once: ' +
        'an advisory lock lets one apply each step). SQLite registries migrate themselves when opened.',
    )
    .addHelpText(
      'after',
      `
Examples:
  fleetcert db migrate --database postgres://fleetcert@db.example:5432/fleetcert --database-password-file /etc/fleetcert/db-password
  # TLS to the database, the password from the environment's file (a deploy script):
  FLEETCERT_DATABASE='postgres://fleetcert@db.example/fleetcert?sslmode=verify-full&sslrootcert=/etc/fleetcert/db-ca.pem' \\
      FLEETCERT_DATABASE_PASSWORD_FILE=/etc/fleetcert/db-password fleetcert db migrate --json`,
    );
  for (const option of databaseOptions()) migrate.addOption(option);
  migrate.addOption(jsonOption()).action(async (options: DatabaseOptions & { json?: boolean }) => {
    const choice = await databaseChoice(options.database, options.databasePasswordFile, '');
    if (choice.kind !== 'postgres') {
      throw new FleetcertError('usage', 'db migrate needs --database postgres://... (SQLite registries migrate themselves)');
    }
    const before = await postgresSchemaVersion(choice.connection);
    await (await openPostgresRegistry(choice.connection, { migrate: true })).close();
    const after = await postgresSchemaVersion(choice.connection);
    const applied = after.current - before.current;
    io.stdout(
      options.json
        ? JSON.stringify({ ok: true, database: choice.connection.display, from: before.current, to: after.current, applied }) + '\n'
        : `${choice.connection.display}: schema v${before.current} -> v${after.current} (${applied} migration${applied === 1 ? '' : 's'} applied)\n`,
    );
  });
  db.command('copy')
    .summary('copy a SQLite registry into an empty PostgreSQL database, verified')
    .description(
      'Moves an existing install to PostgreSQL: every table and row (devices, tokens, certificates, the audit trail, the CRL, ' +
        'console administrators), ' +
        'in one transaction that commits only when each table reads back with the same row count and SHA-256. Refuses a ' +
        'target that already holds rows. Stop serve first: rows written during the copy would not be in it.',
    )
    .requiredOption('--from <file>', 'the SQLite registry, e.g. /var/lib/fleetcert/registry.sqlite3')
    .requiredOption('--to <url>', 'postgres://user@host:port/db[?sslmode=...] (no password in it)')
    .addOption(databaseOptions()[1]!)
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Examples:
  systemctl stop fleetcert
  fleetcert db copy --from /var/lib/fleetcert/registry.sqlite3 --to postgres://fleetcert@db.example/fleetcert \\
      --database-password-file /etc/fleetcert/db-password`,
    )
    .action(async (options: { from: string; to: string; databasePasswordFile?: string; json?: boolean }) => {
      const target = await postgresConnection(options.to, options.databasePasswordFile, process.env);
      let last = 0;
      const tables = await copySqliteToPostgres(options.from, target, (table, done, total) => {
        // Progress for a person, on stderr, at most a few lines a second.
        if (done === total || Date.now() - last > 250) {
          last = Date.now();
          io.stderr(`copying ${table}: ${done}/${total}\n`);
        }
      });
      io.stdout(
        options.json
          ? JSON.stringify({ ok: true, from: options.from, to: target.display, tables }) + '\n'
          : tables.map((t) => `${t.table}: ${t.rows} rows, sha256 ${t.sha256}\n`).join('') + `copied and verified into ${target.display}\n`,
      );
    });
  return db;
}
