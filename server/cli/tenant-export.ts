/**
 * `npm run tenant:export -- <slug> > file.ndjson`: a workspace's data as NDJSON on stdout, the
 * same lines as `GET /export`, read the same way (one REPEATABLE READ transaction in the tenant's
 * context, under RLS as the runtime role), for an operator: no member's session is needed, and
 * the export is audited with no actor. Progress goes to stderr. On PGlite, stop the server first.
 */
import { once } from "node:events";
import { openDatabase } from "../../db/open.js";
import { tenantIdForSlug, withoutTenant, withTenant } from "../../db/tenant.js";
import { recordAudit } from "../audit.js";
import { databaseConfigOf } from "../database-config.js";
import { loadEnv } from "../env.js";
import { tenantExportLines } from "../tenant/export.js";

const slug = process.argv[2];
if (!slug) {
  console.error("usage: npm run tenant:export -- <workspace slug> > export.ndjson");
  process.exit(2);
}

const raw = loadEnv();
const database = await openDatabase({ ...databaseConfigOf(raw), poolMax: 1 });
try {
  const tenantId = await withoutTenant(database.db, (tx) => tenantIdForSlug(tx, slug));
  if (!tenantId) {
    console.error(`no workspace has the slug "${slug}"`);
    process.exitCode = 1;
  } else {
    await withTenant(database.db, { tenantId, userId: null }, (tx) =>
      recordAudit(
        tx,
        { tenantId, actorId: null, action: "tenant.exported", targetType: "tenant", targetId: tenantId },
        { requestId: "cli:tenant-export", clientAddress: null },
      ),
    );
    const started = performance.now();
    let rows = 0;
    let reported = 0;
    await withTenant(
      database.db,
      { tenantId, userId: null },
      async (tx) => {
        for await (const chunk of tenantExportLines(tx, tenantId)) {
          if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
          rows += chunk.split("\n").length - 1;
          if (rows - reported >= 10_000) {
            reported = rows;
            process.stderr.write(`\r${rows.toLocaleString("en")} lines`);
          }
        }
      },
      { isolation: "repeatable read" },
    );
    const seconds = (performance.now() - started) / 1000;
    console.error(`\rexported ${slug}: ${rows.toLocaleString("en")} lines in ${seconds.toFixed(1)} s`);
  }
} finally {
  await database.close();
}
