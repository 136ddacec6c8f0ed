import { databaseUrl } from "../../db/url.js";

/** Which engine this run tests: PGlite by default, PostgreSQL under `npm run test:pg`. */
export const testEngine: "pglite" | "postgres" =
  process.env.BULKHEAD_TEST_ENGINE === "postgres" ? "postgres" : "pglite";

/** The PostgreSQL server the `test:pg` run creates its databases on (as a superuser). */
export const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** The same server, another database and/or user. */
export const urlFor = (database: string, user?: string) => databaseUrl(adminUrl, database, user);

/**
 * A Citus coordinator's database (`npm run test:citus`): every test file of the run shares it,
 * migrated and distributed once, and none drops it (a cluster's database is made on every node
 * by `../shared/citus/cluster.sh resetdb`, not by CREATE DATABASE here).
 */
export const citusUrl = process.env.CITUS_URL;
