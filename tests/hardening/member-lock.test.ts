/**
 * Finding 8: a removal committed while the member's write waited on a lock, and the write still
 * committed afterwards. A read-write transaction now holds the caller's membership row FOR KEY
 * SHARE (app.set_context), and removal and demotion lock it FOR UPDATE: they wait for the
 * member's writes in flight. PostgreSQL only: PGlite runs one statement at a time.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../../db/types.js";
import { createTestApp, type TenantHandle, type TestApp } from "../helpers/app.js";
import { testEngine } from "../helpers/engine.js";

let t: TestApp;
let owner: TenantHandle;
beforeAll(async () => {
  t = await createTestApp();
  owner = await t.registerTenant("Locks");
});
afterAll(() => t.close());

/** How many of this database's sessions wait on a lock. */
async function lockWaiters(): Promise<number> {
  const result = await t.admin.execute(
    sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
  );
  return rowsOf<{ n: number }>(result)[0]?.n ?? 0;
}

/** Polls until `count` sessions wait on locks, or `settled()` says the thing that should wait did not. */
async function untilWaiting(count: number, settled: () => boolean): Promise<"waiting" | "settled"> {
  for (let i = 0; i < 100; i++) {
    if (settled()) return "settled";
    if ((await lockWaiters()) >= count) return "waiting";
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("timed out waiting for lock waiters");
}

describe.skipIf(testEngine !== "postgres")("a member's write in flight", () => {
  for (const change of ["removal", "demotion"] as const) {
    it(`holds off their ${change} until it ends`, async () => {
      const admin = await t.addMember(owner, "admin");
      const project = await owner.client.projects.create.mutate({ name: `Held for ${change}` });
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      // Another session holds the project row, so the admin's delete waits inside its transaction.
      let holding = () => {};
      const held = new Promise<void>((resolve) => {
        holding = resolve;
      });
      const holder = t.admin.transaction(async (tx) => {
        await tx.execute(sql`select 1 from projects where id = ${project.id} for update`);
        holding();
        await released;
      });
      await held;
      const order: string[] = [];
      const deletion = admin.client.projects.delete.mutate({ id: project.id }).finally(() => {
        order.push("delete");
      });
      expect(await untilWaiting(1, () => order.length > 0)).toBe("waiting");

      const removed = { settled: false };
      const demote =
        change === "removal"
          ? owner.client.members.remove.mutate({ userId: admin.userId })
          : owner.client.members.updateRole.mutate({ userId: admin.userId, role: "member" });
      const changing = demote.finally(() => {
        removed.settled = true;
        order.push(change);
      });
      // Without the membership lock the change commits here, while the delete still waits.
      const state = await untilWaiting(2, () => removed.settled);
      release();
      await holder;
      await Promise.allSettled([deletion, changing]);
      expect(state).toBe("waiting");
      expect(order).toEqual(["delete", change]);
      await expect(deletion).resolves.toEqual({ ok: true });
    });
  }

  it("a write that starts after the removal is refused", async () => {
    const admin = await t.addMember(owner, "admin");
    const project = await owner.client.projects.create.mutate({ name: "After removal" });
    await owner.client.members.remove.mutate({ userId: admin.userId });
    await expect(admin.client.projects.delete.mutate({ id: project.id })).rejects.toMatchObject({
      data: { code: "UNAUTHORIZED" },
    });
  });
});
