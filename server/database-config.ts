import type { DatabaseConfig } from "../db/open.js";
import { responseTimeoutFor } from "../db/postgres.js";
import { defaultStatementTimeoutMs } from "../db/tenant.js";
import type { RawConfig } from "./config.js";

/** The database settings of the configuration, as `db/` takes them. */
export function databaseConfigOf(raw: RawConfig): DatabaseConfig {
  return {
    ...(raw.DATABASE_URL ? { url: raw.DATABASE_URL } : {}),
    ...(raw.DATABASE_LISTEN_URL ? { listenUrl: raw.DATABASE_LISTEN_URL } : {}),
    ...(raw.DATABASE_MIGRATION_URL ? { migrationUrl: raw.DATABASE_MIGRATION_URL } : {}),
    poolMax: raw.DATABASE_POOL_MAX,
    connectTimeoutMs: raw.DATABASE_CONNECT_TIMEOUT_MS,
    // A request's statement answers within its statement_timeout; past that and a margin, the
    // connection is taken for lost (a partition) and the request answers 503.
    responseTimeoutMs: responseTimeoutFor(Math.max(raw.STATEMENT_TIMEOUT_MS, defaultStatementTimeoutMs)),
    prepare: raw.DATABASE_PREPARE,
    migrateOnStart: raw.MIGRATE_ON_START,
    pgliteDataDir: raw.PGLITE_DATA_DIR,
  };
}
