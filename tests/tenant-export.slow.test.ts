/**
 * A large export: 200,000 tasks stream through `GET /export` with bounded memory (peak RSS of
 * this process, which holds the app and — on PGlite — the database, grows by less than 50 MB),
 * and `npm run tenant:export` writes the same rows from the command line (PostgreSQL).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectPglite } from "../db/pglite.js";
import { createTestApp, type TenantHandle, type TestApp, testSecret } from "./helpers/app.js";
import { migratedPgliteDump, openTestDatabase, type TestDatabase } from "./helpers/db.js";
import { testEngine } from "./helpers/engine.js";
import { startServer, testPort, waitUntilReady } from "./helpers/server.js";

const projectsCount = 40;
const tasksPerProject = 5000;
const taskRows = projectsCount * tasksPerProject;

// On PGlite the server needs the data on disk, and the directory to itself while it runs.
const pgliteDir = mkdtempSync(join(tmpdir(), "bulkhead-export-"));

async function openDatabaseForServer(): Promise<TestDatabase> {
  if (testEngine === "postgres") return openTestDatabase();
  const database = await connectPglite({
    dataDir: pgliteDir,
    loadDataDir: new Blob([new Uint8Array(await migratedPgliteDump())]),
  });
  return { database, admin: database.db, engine: "pglite", url: null, close: () => database.close() };
}

let t: TestApp;
let a: TenantHandle;
let neighbour: TenantHandle;
beforeAll(async () => {
  t = await createTestApp({ db: await openDatabaseForServer() });
  a = await t.registerTenant("Large");
  neighbour = await t.registerTenant("Neighbour");
  await t.admin.execute(sql`
    insert into projects (tenant_id, name, created_by)
    select ${a.tenantId}::uuid, 'bulk ' || p, ${a.userId}::uuid from generate_series(1, ${projectsCount}) p`);
  await t.admin.execute(sql`
    insert into tasks (tenant_id, project_id, title)
    select p.tenant_id, p.id, 'task ' || n || ' of ' || p.name
      from projects p, generate_series(1, ${tasksPerProject}) n
     where p.tenant_id = ${a.tenantId}::uuid`);
}, 120_000);
afterAll(async () => {
  if (t.engine === "postgres") await t.db.close();
  rmSync(pgliteDir, { recursive: true, force: true });
});

/** A real server process (server/node.ts) on the test's database. */
async function serverOn(app: TestApp) {
  const env: Record<string, string> =
    app.engine === "postgres" ? { DATABASE_URL: app.url ?? "" } : { PGLITE_DATA_DIR: pgliteDir };
  const server = startServer(
    {
      ...env,
      JWT_SECRET: testSecret,
      NODE_ENV: "test",
      LOG_LEVEL: "warn",
      OUTBOX_POLL_MS: "0",
      PRUNE_INTERVAL_SECONDS: "0",
    },
    testPort(),
  );
  if (!(await waitUntilReady(server))) throw new Error(`the server did not start:\n${server.output()}`);
  return server;
}

describe("a 200,000-row export", () => {
  it("streams with bounded memory", async () => {
    if (t.engine === "pglite") await t.database.close();
    const server = await serverOn(t);
    const pid = server.child.pid ?? 0;
    const status = (field: string) =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
    try {
      // Measured on a server at work, not one just started: V8 grows its young generation to
      // its working size under any steady load (tens of MB, export or not). So: a small export
      // and 3,000 reads first, then the peak (VmHWM) is reset to where the process stands.
      await (
        await fetch(`${server.url}/export`, { headers: { authorization: `Bearer ${neighbour.session.accessToken}` } })
      ).text();
      const list = `${server.url}/trpc/projects.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`;
      const reader8 = Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 375; i++)
          await (await fetch(list, { headers: { authorization: `Bearer ${a.session.accessToken}` } })).text();
      });
      await Promise.all(reader8);
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
      const baseline = status("VmRSS");
      const started = performance.now();
      const response = await fetch(`${server.url}/export`, {
        headers: { authorization: `Bearer ${a.session.accessToken}` },
      });
      expect(response.status).toBe(200);
      // Read as a socket would: bytes, counted where they stand, nothing kept or decoded.
      const reader = response.body?.getReader();
      const taskPrefix = new TextEncoder().encode('{"type":"task"');
      let tasks = 0;
      let bytes = 0;
      let atLineStart = true;
      let matched = 0;
      for (;;) {
        const { done, value } = (await reader?.read()) ?? { done: true, value: undefined };
        if (done) break;
        bytes += value.byteLength;
        for (const byte of value) {
          if (byte === 10) {
            atLineStart = true;
            matched = 0;
          } else if (atLineStart) {
            if (byte === taskPrefix[matched]) {
              matched++;
              if (matched === taskPrefix.length) {
                tasks++;
                atLineStart = false;
              }
            } else atLineStart = false;
          }
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const growthMb = status("VmHWM") - baseline;
      console.log(
        `export on ${testEngine}: ${taskRows.toLocaleString("en")} tasks, ${(bytes / 1024 / 1024).toFixed(1)} MB in ${seconds.toFixed(1)} s ` +
          `(${Math.round(taskRows / seconds).toLocaleString("en")} rows/s); server RSS ${baseline.toFixed(0)} MB, peak growth ${growthMb.toFixed(1)} MB`,
      );
      expect(tasks).toBe(taskRows);
      expect(atLineStart).toBe(true);
      expect(growthMb).toBeLessThan(50);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  }, 300_000);

  it.skipIf(testEngine !== "postgres")(
    "npm run tenant:export writes the same rows from the command line",
    async () => {
      const file = join(tmpdir(), `bulkhead-export-${process.pid}.ndjson`);
      try {
        const started = performance.now();
        await promisify(execFile)("sh", ["-c", `node --import tsx server/cli/tenant-export.ts "$SLUG" > "$OUT"`], {
          env: { ...process.env, DATABASE_URL: t.url ?? "", SLUG: a.slug, OUT: file },
          maxBuffer: 1024 * 1024,
        });
        const seconds = (performance.now() - started) / 1000;
        const lines = (await readFile(file, "utf8")).trimEnd().split("\n");
        const first = JSON.parse(lines[0] ?? "{}") as { type: string; tenantId: string };
        const end = JSON.parse(lines.at(-1) ?? "{}") as { type: string; counts: Record<string, number> };
        console.log(
          `tenant:export: ${lines.length.toLocaleString("en")} lines in ${seconds.toFixed(1)} s (with tsx start)`,
        );
        expect(first).toMatchObject({ type: "header", tenantId: a.tenantId });
        expect(end.type).toBe("end");
        expect(end.counts.task).toBe(taskRows);
        expect(lines.filter((line) => line.startsWith('{"type":"task"'))).toHaveLength(taskRows);
      } finally {
        await rm(file, { force: true });
      }
    },
    300_000,
  );
});
