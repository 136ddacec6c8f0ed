import { mkdir } from "node:fs/promises";
import type { RawConfig } from "../server/config.js";
import { migratePgliteDb, migratePostgresUrl, pendingMigrations } from "./migrate.js";
import { connectPglite } from "./pglite.js";
import { connectPostgres } from "./postgres.js";
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

/**
 * Opens the configured database (Node): PostgreSQL when DATABASE_URL is set, else embedded PGlite
 * under PGLITE_DATA_DIR (`memory://` for a throwaway one). PGlite is always migrated on open;
 * PostgreSQL only with MIGRATE_ON_START, and otherwise must already be up to date.
 */
export async function openDatabase(raw: RawConfig): Promise<Database> {
  if (raw.DATABASE_URL) {
    if (raw.MIGRATE_ON_START) await migratePostgresUrl(raw.DATABASE_MIGRATION_URL ?? raw.DATABASE_URL);
    const database = connectPostgres({
      url: raw.DATABASE_URL,
      poolMax: raw.DATABASE_POOL_MAX,
      prepare: raw.DATABASE_PREPARE,
    });
    const pending = await pendingMigrations(database.db);
    if (pending > 0) {
      await database.close();
      throw new UnmigratedError(pending);
    }
    return database;
  }
  const memory = raw.PGLITE_DATA_DIR === "memory://";
  if (!memory) await mkdir(raw.PGLITE_DATA_DIR, { recursive: true });
  const database = await connectPglite(memory ? {} : { dataDir: raw.PGLITE_DATA_DIR });
  await migratePgliteDb(database.db);
  return database;
}
