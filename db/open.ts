import { mkdir } from "node:fs/promises";
import { migratePgliteDb, migratePostgresUrl, pendingMigrations } from "./migrate.js";
import { connectPglite, prepareDataDir } from "./pglite.js";
import { connectPostgres, responseTimeoutFor } from "./postgres.js";
import { jobStatementTimeoutMs } from "./tenant.js";
import type { Database } from "./types.js";

/** Thrown when PostgreSQL has unapplied migrations and MIGRATE_ON_START is off. */
export class UnmigratedError extends Error {
  constructor(pending: number) {
    super(
      `the database has ${pending} unapplied migration(s): run \`npm run db:migrate\` (or set MIGRATE_ON_START=true)`,
    );
    this.name = "UnmigratedError";
  }
}

/** Where the database is and how to connect: the entry point fills it from its configuration. */
export interface DatabaseConfig {
  /** PostgreSQL for requests (as `bulkhead_app`); absent: embedded PGlite. */
  url?: string;
  /** A direct connection for LISTEN (DATABASE_LISTEN_URL), where `url` goes through PgBouncer. */
  listenUrl?: string;
  /** A role that may migrate (owner or superuser); defaults to `url`. */
  migrationUrl?: string;
  poolMax: number;
  /** How long opening a connection may take before a request fails as unavailable. */
  connectTimeoutMs?: number;
  /** How long a statement may wait for its answer before its connection is destroyed (requests' pool). */
  responseTimeoutMs?: number;
  /** Named prepared statements (off behind PgBouncer in transaction mode). */
  prepare: boolean;
  migrateOnStart: boolean;
  /** PGlite's data directory, or `memory://`. */
  pgliteDataDir: string;
}

/**
 * Opens the configured database (Node): PostgreSQL when DATABASE_URL is set, else embedded PGlite
 * under PGLITE_DATA_DIR (`memory://` for a throwaway one). PGlite is always migrated on open;
 * PostgreSQL only with MIGRATE_ON_START, and otherwise must already be up to date.
 */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  if (config.url) {
    if (config.migrateOnStart) await migratePostgresUrl(config.migrationUrl ?? config.url);
    const database = connectPostgres({
      ...postgresOptions(config.url, config),
      poolMax: config.poolMax,
      ...(config.listenUrl ? { listenUrl: config.listenUrl } : {}),
      ...(config.responseTimeoutMs ? { responseTimeoutMs: config.responseTimeoutMs } : {}),
    });
    const pending = await pendingMigrations(database.db);
    if (pending > 0) {
      await database.close();
      throw new UnmigratedError(pending);
    }
    return database;
  }
  const memory = config.pgliteDataDir === "memory://";
  if (!memory) {
    await mkdir(config.pgliteDataDir, { recursive: true });
    await prepareDataDir(config.pgliteDataDir);
  }
  const database = await connectPglite(memory ? {} : { dataDir: config.pgliteDataDir });
  await migratePgliteDb(database.db);
  return database;
}

/** Connections the background jobs' pool holds on PostgreSQL: they run one batch at a time. */
const jobsPoolMax = 2;

/**
 * The database the background jobs (the outbox dispatcher, pruning, erasure) use. On PostgreSQL a
 * small pool of its own: their batches may run `jobStatementTimeoutMs`, longer than a request's
 * statements may wait for an answer on the requests' pool, and they never take its connections.
 * On PGlite, the one database.
 */
export function openJobsDatabase(config: DatabaseConfig, requests: Database): Database {
  if (!config.url) return { ...requests, close: async () => undefined };
  return connectPostgres({
    ...postgresOptions(config.url, config),
    // Named apart, so pg_stat_activity (and tests/server.slow.test.ts) tells the pools apart.
    applicationName: "bulkhead jobs",
    poolMax: jobsPoolMax,
    responseTimeoutMs: responseTimeoutFor(jobStatementTimeoutMs),
  });
}

/** What both pools take from the configuration: where, how to prepare, how long to connect. */
const postgresOptions = (url: string, config: DatabaseConfig) => ({
  url,
  prepare: config.prepare,
  ...(config.connectTimeoutMs ? { connectTimeoutMs: config.connectTimeoutMs } : {}),
});
