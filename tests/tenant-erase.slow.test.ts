/**
 * Erasing a large workspace: 100,000 tasks go in batches while another workspace keeps writing
 * (on PostgreSQL: none of its writes waits long), and nothing of the erased one is left.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eraseDueTenants } from "../db/erase.js";
import { rowsOf } from "../db/types.js";
import { createTestApp, password, type TenantHandle, type TestApp } from "./helpers/app.js";
import { testEngine } from "./helpers/engine.js";

const rows = 100_000;
let t: TestApp;
let doomed: TenantHandle;
let other: TenantHandle;
beforeAll(async () => {
  t = await createTestApp();
  doomed = await t.registerTenant("Large");
  other = await t.registerTenant("Busy");
  await t.admin.execute(sql`
    insert into projects (tenant_id, name, created_by)
    select ${doomed.tenantId}::uuid, 'bulk ' || p, ${doomed.userId}::uuid from generate_series(1, 50) p`);
  await t.admin.execute(sql`
    insert into tasks (tenant_id, project_id, title)
    select p.tenant_id, p.id, 'task ' || n from projects p, generate_series(1, ${rows / 50}) n
     where p.tenant_id = ${doomed.tenantId}::uuid`);
}, 120_000);
afterAll(() => t.close());

describe("erasing 100,000 rows", () => {
  it("goes in short batches, leaves nothing, and keeps the others writing", async () => {
    await doomed.client.tenant.scheduleDeletion.mutate({ password });
    await t.admin.execute(sql`update tenants set deletion_due_at = now() where id = ${doomed.tenantId}`);
    const project = await other.client.projects.create.mutate({ name: "meanwhile" });

    let erasing = true;
    const waits: number[] = [];
    const writer = (async () => {
      // PGlite has one connection: the other workspace's writes take turns with the batches.
      while (erasing && waits.length < 5000) {
        const started = performance.now();
        await other.client.tasks.create.mutate({ projectId: project.id, title: "still writing" });
        waits.push(performance.now() - started);
      }
    })();
    const started = performance.now();
    let slowest = 0;
    let last = performance.now();
    const result = await eraseDueTenants(t.database.db, {
      slugReservedDays: 90,
      onBatch: () => {
        slowest = Math.max(slowest, performance.now() - last);
        last = performance.now();
      },
    });
    const seconds = (performance.now() - started) / 1000;
    erasing = false;
    await writer;

    const left = rowsOf<{ n: number }>(
      await t.admin.execute(sql`select (select count(*) from tasks where tenant_id = ${doomed.tenantId})::int
                                     + (select count(*) from projects where tenant_id = ${doomed.tenantId})::int
                                     + (select count(*) from tenants where id = ${doomed.tenantId})::int as n`),
    )[0]?.n;
    const worst = Math.max(...waits);
    console.log(
      `erase on ${testEngine}: ${rows.toLocaleString("en")} tasks + 50 projects in ${seconds.toFixed(1)} s, ` +
        `${result.batches} batches (longest ${slowest.toFixed(0)} ms); the other workspace wrote ${waits.length} tasks meanwhile, slowest ${worst.toFixed(0)} ms`,
    );
    expect(result).toMatchObject({ erased: [doomed.tenantId], complete: true });
    expect(left).toBe(0);
    expect(waits.length).toBeGreaterThan(0);
    if (testEngine === "postgres") expect(worst).toBeLessThan(1000);
  }, 600_000);
});
