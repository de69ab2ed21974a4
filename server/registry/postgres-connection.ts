/** How to reach the PostgreSQL registry: what `server/config/database-url.ts` makes of `--database`. */
import type { ClientConfig } from 'pg';

export interface PostgresConnection {
  /** Host, port, database, user, password source and TLS, ready for a pg Pool. */
  readonly config: ClientConfig;
  /** The URL without any secret, for messages and logs. */
  readonly display: string;
}
