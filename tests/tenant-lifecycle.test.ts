/**
 * Quotas and the workspace's deletion: limits hold under parallel inserts and name themselves in
 * `error.data.limit`; a workspace scheduled for deletion reads and exports but changes nothing;
 * the erase removes every row of it, batch by batch, stopping and resuming anywhere, and leaves
 * a tombstone that keeps the slug for a while; nothing of another workspace is touched.
 */
import { TRPCClientError } from "@trpc/client";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eraseDueTenants } from "../db/erase.js";
import { pruneExpired } from "../db/prune.js";
import { rowsOf } from "../db/types.js";
import { codeOf, createTwoTenants, password, signedIn, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
});
afterAll(() => t.close());

const one = async <T>(query: ReturnType<typeof sql>): Promise<T | undefined> =>
  rowsOf<T>(await t.admin.execute(query))[0];
const count = async (table: string, tenantId: string) =>
  (await one<{ n: number }>(sql.raw(`select count(*)::int as n from ${table} where tenant_id = '${tenantId}'`)))?.n ??
  -1;
const setLimit = (tenantId: string, column: string, value: number) =>
  t.admin.execute(
    sql.raw(`insert into tenant_limits (tenant_id, ${column}) values ('${tenantId}', ${value})
             on conflict (tenant_id) do update set ${column} = excluded.${column}`),
  );

/** The subjects of the mail queued for `email` (the outbox, read by the superuser). */
const mailedTo = async (email: string) =>
  rowsOf<{ subject: string }>(
    await t.admin.execute(sql`select payload->>'subject' as subject from outbox where payload->>'to' = ${email}`),
  ).map((row) => row.subject);

/** A refusal's tRPC code and the limit it names. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; limit: unknown } | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    if (!(error instanceof TRPCClientError)) throw error;
    return { code: error.data?.code, limit: error.data?.limit ?? null };
  }
}

describe("quotas", () => {
  it("50 parallel creates at the limit: exactly the limit get through, the rest name it", async () => {
    const owner = await t.registerTenant("Quota");
    await owner.client.projects.create.mutate({ name: "first" });
    await setLimit(owner.tenantId, "projects", 11);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => refusal(owner.client.projects.create.mutate({ name: `p${i}` }))),
    );
    expect(results.filter((r) => r === null)).toHaveLength(10);
    const refused = results.filter((r) => r !== null);
    expect(refused).toHaveLength(40);
    for (const r of refused) expect(r).toEqual({ code: "FORBIDDEN", limit: { name: "projects", max: 11 } });
    expect(await count("projects", owner.tenantId)).toBe(11);

    // A deletion frees its place; the usage row tells the truth.
    const [victim] = (await owner.client.projects.list.query({ limit: 1 })).items;
    await owner.client.projects.delete.mutate({ id: victim?.id ?? "" });
    await owner.client.projects.create.mutate({ name: "in its place" });
    expect(await refusal(owner.client.projects.create.mutate({ name: "one too many" }))).toMatchObject({
      code: "FORBIDDEN",
    });
    const usage = await one<{ used: number }>(
      sql`select used from tenant_usage where tenant_id = ${owner.tenantId} and kind = 'projects'`,
    );
    expect(usage?.used).toBe(11);
  });

  it("counts the first creates of a fresh scope racing each other, refusing none of them", async () => {
    // The first insert of a scope makes its usage row; one racing it must count against that row
    // once it is there, even if it was not when the racer first looked (PostgreSQL shows this).
    const owner = await t.registerTenant("First racers");
    for (let round = 0; round < 15; round++) {
      const project = await owner.client.projects.create.mutate({ name: `fresh ${round}` });
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          refusal(owner.client.tasks.create.mutate({ projectId: project.id, title: `racer ${i}` })),
        ),
      );
      expect(
        results.filter((r) => r !== null),
        `round ${round}`,
      ).toEqual([]);
      const usage = await one<{ used: number }>(
        sql`select used from tenant_usage where tenant_id = ${owner.tenantId} and kind = 'tasks_per_project' and scope_id = ${project.id}`,
      );
      expect(usage?.used, `round ${round}`).toBe(30);
    }
  });

  it("limits tasks per project, comments per task, pending invitations and members", async () => {
    const owner = await t.registerTenant("Small");
    const project = await owner.client.projects.create.mutate({ name: "p" });
    const other = await owner.client.projects.create.mutate({ name: "q" });
    await setLimit(owner.tenantId, "tasks_per_project", 2);
    await setLimit(owner.tenantId, "comments_per_task", 1);
    await setLimit(owner.tenantId, "pending_invitations", 1);
    await setLimit(owner.tenantId, "members", 2);

    const task = await owner.client.tasks.create.mutate({ projectId: project.id, title: "1" });
    await owner.client.tasks.create.mutate({ projectId: project.id, title: "2" });
    expect(await refusal(owner.client.tasks.create.mutate({ projectId: project.id, title: "3" }))).toEqual({
      code: "FORBIDDEN",
      limit: { name: "tasks_per_project", max: 2 },
    });
    // Per project: another project has room.
    await owner.client.tasks.create.mutate({ projectId: other.id, title: "elsewhere" });

    await owner.client.comments.create.mutate({ taskId: task.id, body: "one" });
    expect((await refusal(owner.client.comments.create.mutate({ taskId: task.id, body: "two" })))?.limit).toEqual({
      name: "comments_per_task",
      max: 1,
    });

    const invite = await owner.client.members.invite.mutate({ email: `first@${owner.slug}.test`, role: "member" });
    expect(
      (await refusal(owner.client.members.invite.mutate({ email: `second@${owner.slug}.test`, role: "member" })))
        ?.limit,
    ).toEqual({ name: "pending_invitations", max: 1 });
    // Accepting makes room among invitations and takes the second member's place.
    await t.client().auth.acceptInvite.mutate({ token: invite.token, name: "Second", password });
    const third = await owner.client.members.invite.mutate({ email: `third@${owner.slug}.test`, role: "member" });
    expect(await refusal(t.client().auth.acceptInvite.mutate({ token: third.token, name: "Third", password }))).toEqual(
      {
        code: "FORBIDDEN",
        limit: { name: "members", max: 2 },
      },
    );
    expect(await count("users", owner.tenantId)).toBe(2);
  });

  it("are read by the runtime role, never written by it", async () => {
    const attempt = await t.database.db
      .transaction(async (tx) => {
        await tx.execute(sql`select app.set_context(${a.tenantId}::uuid, null, 5000, null, false)`);
        await tx.execute(sql`insert into tenant_limits (tenant_id, projects) values (${a.tenantId}, 1000000)`);
      })
      .then(
        () => "written",
        () => "refused",
      );
    expect(attempt).toBe("refused");
  });
});

describe("scheduling a deletion", () => {
  it("needs the owner and their password, and is audited", async () => {
    const admin = await t.addMember(a, "admin");
    expect(await codeOf(admin.client.tenant.scheduleDeletion.mutate({ password }))).toBe("FORBIDDEN");
    expect(await codeOf(a.client.tenant.scheduleDeletion.mutate({ password: "not the password at all" }))).toBe(
      "BAD_REQUEST",
    );
    expect((await a.client.tenant.get.query()).deletionDueAt).toBeNull();
    const scheduled = await a.client.tenant.scheduleDeletion.mutate({ password });
    const days = ((scheduled.deletionDueAt?.getTime() ?? 0) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThan(7.01);
    const audit = await a.client.audit.list.query({});
    expect(audit.items.map((e) => e.action)).toContain("tenant.deletion_scheduled");
    expect(await mailedTo(`owner@${a.slug}.test`)).toContainEqual(expect.stringMatching(/is scheduled for deletion/));
  });

  it("leaves the workspace readable, exportable and signed in, and refuses every change", async () => {
    const projects = await a.client.projects.list.query({});
    expect(Array.isArray(projects.items)).toBe(true);
    const refused = await refusal(a.client.projects.create.mutate({ name: "no more" }));
    expect(refused?.code).toBe("FORBIDDEN");
    const message = await a.client.projects.create.mutate({ name: "no more" }).catch((e: Error) => e.message);
    expect(message).toMatch(/scheduled for deletion/);
    expect(await codeOf(a.client.tenant.update.mutate({ name: "Renamed" }))).toBe("FORBIDDEN");
    expect(await codeOf(a.client.members.invite.mutate({ email: "late@x.test", role: "member" }))).toBe("FORBIDDEN");
    const exported = await t.app.request("/export", { headers: { authorization: `Bearer ${a.session.accessToken}` } });
    expect(exported.status).toBe(200);
    await exported.text();
    const again = signedIn(
      await t.client().auth.login.mutate({ tenantSlug: a.slug, email: `owner@${a.slug}.test`, password }),
    );
    expect(again.tenant.deletionDueAt).toBeInstanceOf(Date);
    // B is not affected.
    await b.client.projects.create.mutate({ name: "business as usual" });
  });

  it("can be cancelled by the owner before its date, and then changes work again", async () => {
    const cancelled = await a.client.tenant.cancelDeletion.mutate();
    expect(cancelled.deletionDueAt).toBeNull();
    await a.client.projects.create.mutate({ name: "back to work" });
    const audit = await a.client.audit.list.query({});
    expect(audit.items.map((e) => e.action)).toContain("tenant.deletion_cancelled");
    expect(await mailedTo(`owner@${a.slug}.test`)).toContainEqual(expect.stringMatching(/will not be deleted/));
  });
});

describe("erasing a workspace", () => {
  it("removes every row of it in batches, resumes after a stop, leaves a tombstone, and spares the others", async () => {
    const doomed = await t.registerTenant("Doomed");
    const member = await t.addMember(doomed, "member");
    await doomed.client.members.invite.mutate({ email: `pending@${doomed.slug}.test`, role: "member" });
    for (let p = 0; p < 3; p++) {
      const project = await doomed.client.projects.create.mutate({ name: `p${p}` });
      for (let i = 0; i < 5; i++) {
        const task = await doomed.client.tasks.create.mutate({ projectId: project.id, title: `t${i}` });
        await member.client.comments.create.mutate({ taskId: task.id, body: "c" });
      }
    }
    await t.client().auth.requestPasswordReset.mutate({ tenantSlug: doomed.slug, email: `owner@${doomed.slug}.test` });
    const tables = rowsOf<{ table_name: string }>(
      await t.admin.execute(sql`
        select c.table_name from information_schema.columns c
          join information_schema.tables x on x.table_schema = c.table_schema and x.table_name = c.table_name
         where c.table_schema = 'public' and c.column_name = 'tenant_id' and x.table_type = 'BASE TABLE'
         order by 1`),
    ).map((row) => row.table_name);
    expect(tables).toEqual(
      expect.arrayContaining(["projects", "tasks", "comments", "outbox", "password_resets", "tenant_usage"]),
    );
    const countsOf = async (tenantId: string) =>
      Object.fromEntries(
        await Promise.all(tables.map(async (table) => [table, await count(table, tenantId)] as const)),
      );
    const othersBefore = await countsOf(b.tenantId);
    const before = await countsOf(doomed.tenantId);
    expect(before.comments).toBe(15);

    // Not due yet: the erase leaves it alone.
    await doomed.client.tenant.scheduleDeletion.mutate({ password });
    expect(await eraseDueTenants(t.database.db, { slugReservedDays: 90 })).toEqual({
      erased: [],
      batches: 0,
      complete: true,
    });
    // Due: its date moved into the past, as the grace period would.
    await t.admin.execute(
      sql`update tenants set deletion_due_at = now() - interval '1 second' where id = ${doomed.tenantId}`,
    );
    expect(await codeOf(doomed.client.tenant.cancelDeletion.mutate())).toBe("CONFLICT");

    // Stopped after three small batches: some rows are gone, the workspace is still there.
    const first = await eraseDueTenants(t.database.db, { slugReservedDays: 90, batch: 4, maxBatches: 3 });
    expect(first).toMatchObject({ erased: [], batches: 3, complete: false });
    expect(await count("comments", doomed.tenantId)).toBe(15 - 12);
    expect(await one(sql`select id from tenants where id = ${doomed.tenantId}`)).toBeDefined();

    // Resumed: to the end.
    const rest = await eraseDueTenants(t.database.db, { slugReservedDays: 90, batch: 4 });
    expect(rest.complete).toBe(true);
    expect(rest.erased).toEqual([doomed.tenantId]);
    const after = await countsOf(doomed.tenantId);
    expect(Object.values(after).every((n) => n === 0)).toBe(true);
    expect(await one(sql`select id from tenants where id = ${doomed.tenantId}`)).toBeUndefined();
    expect(await countsOf(b.tenantId)).toEqual(othersBefore);

    // The tombstone: id, time, slug reserved; no name, email or anything else.
    const tombstone = await one<Record<string, unknown>>(
      sql`select * from tenant_tombstones where id = ${doomed.tenantId}`,
    );
    expect(Object.keys(tombstone ?? {}).sort()).toEqual(["deleted_at", "id", "slug", "slug_reserved_until"]);
    expect(tombstone?.slug).toBe(doomed.slug);
    // Its sessions died with it.
    expect(await codeOf(doomed.client.projects.list.query({}))).toBe("UNAUTHORIZED");

    // The slug stays taken while reserved, and is free once the reservation is over.
    const register = () =>
      t.client().auth.registerTenant.mutate({
        tenant: { name: "Reborn", slug: doomed.slug },
        owner: { email: `new@${doomed.slug}.test`, password, name: "New" },
      });
    expect(await codeOf(register())).toBe("CONFLICT");
    await t.admin.execute(
      sql`update tenant_tombstones set slug_reserved_until = now() - interval '1 second' where id = ${doomed.tenantId}`,
    );
    await pruneExpired(t.database.db, { throttleWindowSeconds: 3600 });
    expect(
      (await one<{ slug: string | null }>(sql`select slug from tenant_tombstones where id = ${doomed.tenantId}`))?.slug,
    ).toBeNull();
    expect((await register()).tenant.slug).toBe(doomed.slug);
  });
});

describe("audit retention", () => {
  it("prunes events older than AUDIT_RETENTION_DAYS, and none without it", async () => {
    const owner = await t.registerTenant("Retained");
    await owner.client.projects.create.mutate({ name: "old news" });
    await t.admin.execute(
      sql`update audit_events set created_at = now() - interval '40 days' where tenant_id = ${owner.tenantId}`,
    );
    await owner.client.projects.create.mutate({ name: "fresh" });
    const total = await count("audit_events", owner.tenantId);
    await pruneExpired(t.database.db, { throttleWindowSeconds: 3600 });
    expect(await count("audit_events", owner.tenantId)).toBe(total);
    await pruneExpired(t.database.db, { throttleWindowSeconds: 3600, auditRetentionDays: 30 });
    expect(await count("audit_events", owner.tenantId)).toBe(1);
  });
});
