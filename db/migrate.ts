/**
 * Applies the SQL migrations in `drizzle/`, then the functions of `db/sql/functions/` that are
 * missing or differ (Node only: it reads them from disk). Migrations run as the connecting role
 * (an owner/superuser), never as `bulkhead_app`.
 */
import { fileURLToPath } from "node:url";
import type { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { PgliteDatabase } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { applyFunctions } from "./functions.js";
import { type Db, rowsOf } from "./types.js";

export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));

/** An arbitrary constant: concurrent starters with MIGRATE_ON_START queue on this lock. */
const migrationLockKey = 724_311_901;

/** Migrates a PostgreSQL database over a dedicated connection, one migrator at a time. */
export async function migratePostgresUrl(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`select pg_advisory_lock(${migrationLockKey})`;
    const db = drizzle(client);
    await migratePostgres(db, { migrationsFolder });
    await applyFunctions(db as unknown as Db, (text) => client.unsafe(text));
    await client`select pg_advisory_unlock(${migrationLockKey})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

/** Migrates a PGlite database (a single connection, so no lock is needed). */
export async function migratePgliteDb(db: Db): Promise<void> {
  await migratePglite(db as unknown as PgliteDatabase, { migrationsFolder });
  await applyFunctions(db, (text) => (db as unknown as { $client: PGlite }).$client.exec(text));
}

/** How many migrations in `drizzle/` the database has not applied yet (0: up to date). */
export async function pendingMigrations(db: Db): Promise<number> {
  const files = readMigrationFiles({ migrationsFolder });
  let lastApplied = 0;
  try {
    const result = await db.execute(
      sql`select coalesce(max(created_at), 0)::text as last from drizzle.__drizzle_migrations`,
    );
    lastApplied = Number(rowsOf<{ last: string }>(result)[0]?.last ?? 0);
  } catch {
    // No migrations table (or no access to it): nothing has been applied.
    return files.length;
  }
  return files.filter((migration) => migration.folderMillis > lastApplied).length;
}
