/**
 * `npm run doctor [-- --json] [-- --allow-owner-login]`: checks a PostgreSQL database as the
 * server would use it (DATABASE_URL, DATABASE_PREPARE), read-only — safe on production and
 * through PgBouncer. Prints a pass or a failure with how to fix it per check; `--json` prints
 * the checks for CI. Exits 1 on any failure (db/doctor.ts).
 */
import { runDoctor } from "../../db/doctor.js";
import { connectPostgres } from "../../db/postgres.js";
import { loadEnv } from "../env.js";

const raw = loadEnv();
const json = process.argv.includes("--json");
if (!raw.DATABASE_URL) {
  console.error(
    "npm run doctor checks a PostgreSQL database: set DATABASE_URL (PGlite needs no doctor: it is migrated and checked at every start)",
  );
  process.exit(2);
}
const url = new URL(raw.DATABASE_URL);
const database = connectPostgres({ url: raw.DATABASE_URL, poolMax: 1, prepare: raw.DATABASE_PREPARE });
try {
  const checks = await runDoctor(database.db, {
    prepare: raw.DATABASE_PREPARE,
    allowOwnerLogin: process.argv.includes("--allow-owner-login"),
    ...(url.port ? { urlPort: Number(url.port) } : { urlPort: 5432 }),
  });
  const failed = checks.filter((c) => c.status === "fail");
  if (json) {
    console.log(JSON.stringify({ ok: failed.length === 0, checks }, null, 2));
  } else {
    for (const c of checks) {
      console.log(`${c.status.toUpperCase().padEnd(4)}  ${c.name}`);
      for (const detail of c.details) console.log(`      ${detail}`);
      if (c.status === "fail" && c.hint) console.log(`      fix: ${c.hint}`);
    }
    console.log(failed.length === 0 ? "\ndoctor: every check passed" : `\ndoctor: ${failed.length} check(s) failed`);
  }
  if (failed.length > 0) process.exitCode = 1;
} finally {
  await database.close();
}
