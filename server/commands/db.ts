/** `fleetcert db migrate`: bring a PostgreSQL registry to this fleetcert's schema (serve refuses one that is behind). */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { databaseChoice } from '../config/database-url.js';
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
    .addHelpText('after', '\nExample:\n  fleetcert db migrate --database postgres://fleetcert@db.example:5432/fleetcert --database-password-file /etc/fleetcert/db-password');
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
  return db;
}
