/** `npm run db:migrate`: applies `drizzle/` to DATABASE_MIGRATION_URL (or DATABASE_URL), else to the PGlite data directory. */
import { mkdir } from "node:fs/promises";
import { migratePgliteDb, migratePostgresUrl } from "../../db/migrate.js";
import { connectPglite } from "../../db/pglite.js";
import { loadEnv } from "../env.js";

const raw = loadEnv();
const url = raw.DATABASE_MIGRATION_URL ?? raw.DATABASE_URL;
if (url) {
  await migratePostgresUrl(url);
  console.log(`migrated PostgreSQL database ${new URL(url).pathname.slice(1) || "(default)"}`);
} else {
  const memory = raw.PGLITE_DATA_DIR === "memory://";
  if (!memory) await mkdir(raw.PGLITE_DATA_DIR, { recursive: true });
  const database = await connectPglite(memory ? {} : { dataDir: raw.PGLITE_DATA_DIR });
  await migratePgliteDb(database.db);
  await database.close();
  console.log(`migrated PGlite database in ${raw.PGLITE_DATA_DIR}`);
}
