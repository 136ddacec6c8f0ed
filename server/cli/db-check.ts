/**
 * `npm run db:check`: the posture check the server runs at start, on demand. Exits 1 and names
 * every problem when the database would not enforce tenant isolation (or is not migrated).
 */

import { pendingMigrations } from "../../db/migrate.js";
import { connectPglite } from "../../db/pglite.js";
import { connectPostgres } from "../../db/postgres.js";
import { checkPosture } from "../../db/posture.js";
import { loadEnv } from "../env.js";

const raw = loadEnv();
const database = raw.DATABASE_URL
  ? connectPostgres({ url: raw.DATABASE_URL, poolMax: 1, prepare: raw.DATABASE_PREPARE })
  : await connectPglite(raw.PGLITE_DATA_DIR === "memory://" ? {} : { dataDir: raw.PGLITE_DATA_DIR });
try {
  const pending = await pendingMigrations(database.db);
  const report = await checkPosture(database.db);
  const problems = [
    ...(pending > 0 ? [`${pending} migration(s) not applied: run npm run db:migrate`] : []),
    ...report.problems,
  ];
  if (database.engine === "postgres") for (const warning of report.warnings) console.warn(`warning: ${warning}`);
  if (problems.length > 0) {
    console.error(`posture check FAILED on ${database.engine}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    process.exitCode = 1;
  } else {
    console.log(
      `posture check passed on ${database.engine}: runtime role bulkhead_app is not superuser, has no BYPASSRLS, owns no table; every tenant table has RLS enabled and forced with policies for every command; every function pins search_path; one permissive policy per table, role and command, as db/schema.ts declares them; views are security_invoker`,
    );
  }
} finally {
  await database.close();
}
