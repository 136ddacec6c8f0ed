/**
 * `npm run db:prune`: deletes expired refresh tokens, expired invitations and finished throttle
 * windows once, as the runtime role (DATABASE_URL, else the PGlite data directory). The server
 * already does this every PRUNE_INTERVAL_SECONDS; this is for PRUNE_INTERVAL_SECONDS=0 and a
 * scheduler of your own. On PGlite, stop the server first: one process holds its data directory.
 */

import { openDatabase } from "../../db/open.js";
import { pruneExpired } from "../../db/prune.js";
import { longestThrottleWindowSeconds } from "../config.js";
import { databaseConfigOf } from "../database-config.js";
import { loadEnv } from "../env.js";

const raw = loadEnv();
// As the server opens it: PGlite migrated, PostgreSQL refused if migrations are pending.
const database = await openDatabase({ ...databaseConfigOf(raw), poolMax: 1 });
try {
  const started = Date.now();
  const result = await pruneExpired(database.db, {
    throttleWindowSeconds: longestThrottleWindowSeconds(raw),
    auditRetentionDays: raw.AUDIT_RETENTION_DAYS ?? null,
    eventRetentionDays: raw.EVENT_RETENTION_DAYS,
    maxBatches: 100_000,
  });
  const ms = Date.now() - started;
  console.log(
    result.busy
      ? `another process is pruning ${database.engine} right now; nothing done (${ms} ms)`
      : `pruned expired rows on ${database.engine} in ${result.batches} transaction(s), ${ms} ms${result.complete ? "" : " (stopped at the bound; run again)"}`,
  );
} finally {
  await database.close();
}
