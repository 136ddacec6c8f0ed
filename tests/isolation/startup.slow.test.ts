import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { connectPglite } from "../../db/pglite.js";
import type { Db } from "../../db/types.js";
import { migratedPgliteDump, openTestDatabase } from "../helpers/db.js";
import { testEngine } from "../helpers/engine.js";
import { Tarball } from "../helpers/pglite-copies.js";
import { startServer, testPort } from "../helpers/server.js";

/** A database broken by `damage`, and the environment that points a server at it. */
async function brokenDatabase(
  damage: (db: Db) => Promise<void>,
): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }> {
  if (testEngine === "pglite") {
    const dir = await mkdtemp(join(tmpdir(), "bulkhead-broken-"));
    const dataDir = join(dir, "pglite");
    // The migrated data directory every test file starts from, written to disk for the server.
    const database = await connectPglite({ dataDir, loadDataDir: new Tarball(await migratedPgliteDump()) });
    await damage(database.db);
    await database.close();
    return { env: { PGLITE_DATA_DIR: dataDir }, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  const db = await openTestDatabase();
  await damage(db.admin);
  return { env: { DATABASE_URL: db.url ?? "", DATABASE_PREPARE: "false" }, cleanup: () => db.close() };
}

describe("isolation pitfalls (start-up)", () => {
  it("1. the server refuses to start when the posture check fails, naming each problem", async () => {
    const broken = await brokenDatabase(async (db) => {
      await db.execute(sql`alter table projects no force row level security`);
      await db.execute(sql`alter table tasks disable row level security`);
    });
    try {
      const server = startServer(broken.env, testPort());
      expect(await server.exited).toBe(1);
      expect(server.output()).toContain("refusing to start");
      expect(server.output()).toContain("public.projects: row-level security is not forced");
      expect(server.output()).toContain("public.tasks: row-level security is not enabled");
    } finally {
      await broken.cleanup();
    }
  });

  it.runIf(testEngine === "pglite")(
    "1. ...and when the runtime role is a superuser or has BYPASSRLS (roles are per-instance on PGlite)",
    async () => {
      const broken = await brokenDatabase(async (db) => {
        await db.execute(sql`alter role bulkhead_app superuser bypassrls`);
      });
      try {
        const server = startServer(broken.env, testPort());
        expect(await server.exited).toBe(1);
        expect(server.output()).toContain("runtime role bulkhead_app is a superuser");
        expect(server.output()).toContain("runtime role bulkhead_app has BYPASSRLS");
      } finally {
        await broken.cleanup();
      }
    },
  );
});
