/**
 * Applies the SQL migrations in `drizzle/`, then the functions of `db/sql/functions/` that are
 * missing or differ (Node only: it reads them from disk), then, on a Citus coordinator, distributes
 * what is new. Migrations run as the connecting role (an owner/superuser), never as `bulkhead_app`.
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
import { distribute } from "./distribute.js";
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
    // On a Citus coordinator, distribute what is new (a no-op elsewhere: db/distribute.ts).
    for (const line of await distribute(client)) console.log(`citus: ${line}`);
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

/**
 * The code's migrations against the database's: how many the code has, how many of them are not
 * applied, and how many applied ones the code does not have. Throws when the migrations table
 * cannot be read (none, or no access to it).
 */
export async function migrationState(db: Db): Promise<{ total: number; pending: number; unknown: number }> {
  const files = readMigrationFiles({ migrationsFolder });
  const applied = rowsOf<{ at: string }>(
    await db.execute(sql`select created_at::text as at from drizzle.__drizzle_migrations`),
  ).map((row) => Number(row.at));
  const last = Math.max(0, ...applied);
  return {
    total: files.length,
    pending: files.filter((file) => file.folderMillis > last).length,
    unknown: applied.filter((at) => !files.some((file) => file.folderMillis === at)).length,
  };
}

/** How many migrations in `drizzle/` the database has not applied yet (0: up to date). */
export async function pendingMigrations(db: Db): Promise<number> {
  try {
    return (await migrationState(db)).pending;
  } catch {
    // No migrations table (or no access to it): nothing has been applied.
    return readMigrationFiles({ migrationsFolder }).length;
  }
}
