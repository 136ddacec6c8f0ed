import { and, eq, like, sql, TransactionRollbackError } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlStateOf } from "../db/errors.js";
import { prepareRead, readsFor } from "../db/reads.js";
import { projects, tasks, users } from "../db/schema.js";
import { withStatementCache } from "../db/statement-cache.js";
import { type MemberContext, withMember, withoutTenant, withTenant } from "../db/tenant.js";
import { rowsOf } from "../db/types.js";
import { createTestApp, createTwoTenants, sessionOf, type TenantHandle, type TestApp } from "./helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
  await a.client.projects.create.mutate({ name: "A project" });
  await b.client.projects.create.mutate({ name: "B project" });
});
afterAll(() => t.close());

const asA = () => ({ tenantId: a.tenantId, userId: a.userId });

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the statement to fail");
}

describe("the request transaction", () => {
  it("runs as bulkhead_app, which is not a superuser and cannot bypass RLS", async () => {
    const who = await withTenant(t.database.db, asA(), async (tx) =>
      rowsOf<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean; tenant: string }>(
        await tx.execute(sql`
          select current_user::text as current_user, r.rolsuper, r.rolbypassrls,
                 current_setting('app.tenant_id') as tenant
            from pg_roles r where r.rolname = current_user`),
      ),
    );
    expect(who).toEqual([{ current_user: "bulkhead_app", rolsuper: false, rolbypassrls: false, tenant: a.tenantId }]);
  });

  it("sees only its own tenant's rows, even without a tenant predicate", async () => {
    const names = await withTenant(t.database.db, asA(), async (tx) =>
      (await tx.select({ name: projects.name }).from(projects)).map((p) => p.name),
    );
    expect(names).toEqual(["A project"]);
  });

  it("refuses an INSERT carrying another tenant's tenant_id (RLS WITH CHECK, 42501)", async () => {
    const error = await failure(
      withTenant(t.database.db, asA(), (tx) =>
        tx.insert(projects).values({ tenantId: b.tenantId, name: "planted", createdBy: a.userId }),
      ),
    );
    expect(sqlStateOf(error)).toBe("42501");
    const planted = await b.client.projects.list.query({ limit: 100 });
    expect(planted.items.map((p) => p.name)).not.toContain("planted");
  });

  it("refuses an UPDATE that moves a row to another tenant", async () => {
    const error = await failure(
      withTenant(t.database.db, asA(), (tx) => tx.update(projects).set({ tenantId: b.tenantId })),
    );
    expect(sqlStateOf(error)).toBe("42501");
  });
});

describe("without tenant context (fail closed)", () => {
  it("reads 0 rows and every write fails, as the runtime role", async () => {
    const rows = await withoutTenant(t.database.db, (tx) => tx.select().from(projects));
    expect(rows).toEqual([]);
    const error = await failure(
      withoutTenant(t.database.db, (tx) =>
        tx.insert(projects).values({ tenantId: a.tenantId, name: "no context", createdBy: a.userId }),
      ),
    );
    expect(sqlStateOf(error)).toBe("42501");
    const updated = await withoutTenant(t.database.db, (tx) =>
      tx.update(projects).set({ name: "x" }).returning({ id: projects.id }),
    );
    expect(updated).toEqual([]);
  });

  it("on a reused pooled connection, reads '' as no tenant: 0 rows, no error", async () => {
    // After a tenant transaction the same connection reads app.tenant_id as '' (not NULL).
    // A pool of one guarantees the reuse on PostgreSQL; PGlite has a single connection anyway.
    const { openTestDatabase } = await import("./helpers/db.js");
    const single = t.engine === "postgres" ? await openTestDatabase({ poolMax: 1 }) : null;
    const db = single?.database.db ?? t.database.db;
    try {
      if (single) {
        const t1 = await createTestApp({ db: single });
        const c = await t1.registerTenant("Pooled");
        await c.client.projects.create.mutate({ name: "pooled" });
      }
      for (let i = 0; i < 3; i++) {
        await withTenant(db, asA(), (tx) => tx.select().from(projects)).catch(() => []);
        const rows = await withoutTenant(db, (tx) =>
          tx.execute(sql`select current_setting('app.tenant_id', true) as setting, count(*)::int as n from projects`),
        );
        expect(rowsOf(rows)).toEqual([{ setting: "", n: 0 }]);
      }
    } finally {
      await single?.close();
    }
  });

  it("leaves no setting or role behind on the connection after the transaction", async () => {
    await withTenant(t.database.db, asA(), (tx) => tx.select().from(projects));
    const after = rowsOf<{ tenant: string | null; user: string | null; role: string }>(
      await t.database.db.execute(
        sql`select nullif(current_setting('app.tenant_id', true), '') as tenant,
                   nullif(current_setting('app.user_id', true), '') as user,
                   current_user::text as role`,
      ),
    );
    expect(after[0]?.tenant).toBeNull();
    expect(after[0]?.user).toBeNull();
    // PGlite's connection is the superuser postgres, PostgreSQL's is bulkhead_app itself.
    expect(after[0]?.role).toBe(t.engine === "pglite" ? "postgres" : "bulkhead_app");
  });
});

describe("the member's transaction (withMember)", () => {
  const member = (overrides: Partial<MemberContext> = {}): MemberContext => ({
    tenantId: a.tenantId,
    userId: a.userId,
    sessionId: sessionOf(a),
    tenantSlug: null,
    statementTimeoutMs: 5000,
    ...overrides,
  });

  it("is Drizzle's own transaction, on either engine: rollback() exists and rolls back", async () => {
    const error = await failure(
      withMember(t.database.db, member(), { write: true }, async (tx, role) => {
        expect(role).toBe("owner");
        await tx.insert(projects).values({ tenantId: a.tenantId, name: "rolled back", createdBy: a.userId });
        tx.rollback();
      }),
    );
    expect(error).toBeInstanceOf(TransactionRollbackError);
    const names = await withTenant(t.database.db, asA(), (tx) => tx.select({ name: projects.name }).from(projects));
    expect(names.map((row) => row.name)).not.toContain("rolled back");
  });

  it("refuses a non-member, an ended session and another tenant's slug before the callback runs", async () => {
    let ran = 0;
    const attempt = (context: MemberContext) =>
      failure(
        withMember(t.database.db, context, { write: false }, async () => {
          ran++;
        }),
      ).then(sqlStateOf);
    expect(await attempt(member({ tenantId: b.tenantId }))).toBe("BH401");
    expect(await attempt(member({ sessionId: crypto.randomUUID() }))).toBe("BH401");
    expect(await attempt(member({ userId: b.userId }))).toBe("BH401");
    expect(await attempt(member({ tenantSlug: b.slug }))).toBe("BH403");
    expect(await attempt(member({ tenantId: "not-a-uuid" }))).toBe("22P02");
    expect(ran).toBe(0);
  });

  it("a read is read-only from its first statement on", async () => {
    const error = await failure(
      withMember(t.database.db, member(), { write: false }, (tx) =>
        tx.insert(projects).values({ tenantId: a.tenantId, name: "in a read", createdBy: a.userId }),
      ),
    );
    expect(sqlStateOf(error)).toBe("25006");
  });
});

describe("one-statement reads", () => {
  const member = (): MemberContext => ({
    tenantId: a.tenantId,
    userId: a.userId,
    sessionId: sessionOf(a),
    tenantSlug: null,
    statementTimeoutMs: 5000,
  });

  it("run any select for the member, mapped by Drizzle: dates, joins and expressions", async () => {
    const reads = readsFor(t.database.db, member());
    expect(reads.confirmed()).toBe(false);
    const rows = await reads.db
      .select({
        name: projects.name,
        createdAt: projects.createdAt,
        owner: users.email,
        total: sql<number>`count(*) over ()`.mapWith(Number),
      })
      .from(projects)
      .innerJoin(users, and(eq(users.tenantId, projects.tenantId), eq(users.id, projects.createdBy)));
    expect(rows).toEqual([
      { name: "A project", createdAt: expect.any(Date), owner: expect.stringContaining("@"), total: 1 },
    ]);
    expect(reads.confirmed()).toBe(true);
    const [created] = await withTenant(t.database.db, asA(), (tx) =>
      tx.select({ createdAt: projects.createdAt }).from(projects),
    );
    expect(rows[0]?.createdAt.getTime()).toBe(created?.createdAt.getTime());
    // No tenant filter in the query: RLS alone keeps B's project out.
    expect((await reads.db.select({ name: projects.name }).from(projects)).map((row) => row.name)).toEqual([
      "A project",
    ]);
  });

  it("prepared once, run for each member with its own values", async () => {
    const byName = prepareRead((db) =>
      db
        .select({ id: projects.id })
        .from(projects)
        .where(eq(projects.name, sql.placeholder("name")))
        .prepare("by_name"),
    );
    const asB = { ...member(), tenantId: b.tenantId, userId: b.userId, sessionId: sessionOf(b) };
    expect(await readsFor(t.database.db, member()).run(byName, { name: "A project" })).toHaveLength(1);
    expect(await readsFor(t.database.db, member()).run(byName, { name: "B project" })).toEqual([]);
    expect(await readsFor(t.database.db, asB).run(byName, { name: "B project" })).toHaveLength(1);
    expect(byName(t.database.db)).toBe(byName(t.database.db));
    const outsider = readsFor(t.database.db, { ...member(), sessionId: crypto.randomUUID() });
    expect(sqlStateOf(await failure(outsider.run(byName, { name: "A project" })))).toBe("BH401");
    expect(outsider.confirmed()).toBe(false);
  });

  it("carry every timestamp to the millisecond, as Drizzle reads it in a transaction", async () => {
    // Timestamps travel as epoch milliseconds computed in floating point: the edges where a
    // rounding error would show (either side of the epoch, .000 and .999), and a spread from
    // year 100 to 9999 (Drizzle's own mapping, in the transaction, reads years below 100 as
    // 19xx or 20xx: V8 parses its timestamp strings that way).
    const first = Date.parse("0100-01-01T00:00:00.000Z");
    const last = Date.parse("9999-12-31T23:59:59.999Z");
    let seed = 20261201;
    const spread = Array.from({ length: 60 }, () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return first + Math.floor((seed / 2147483648) * (last - first));
    });
    const instants = [0, -1, 1, 999, 1000, -999, -1000, first, last, Date.parse("2026-12-01T23:59:59.999Z"), ...spread];
    await withTenant(t.database.db, asA(), async (tx) => {
      const [project] = await tx.select({ id: projects.id }).from(projects);
      await tx.insert(tasks).values(
        instants.map((ms, i) => ({
          tenantId: a.tenantId,
          projectId: project?.id ?? "",
          title: `instant ${i}`,
          createdAt: new Date(ms),
        })),
      );
    });
    try {
      const query = { title: tasks.title, createdAt: tasks.createdAt };
      const read = await readsFor(t.database.db, member())
        .db.select(query)
        .from(tasks)
        .where(like(tasks.title, "instant %"));
      const inTransaction = await withTenant(t.database.db, asA(), (tx) =>
        tx.select(query).from(tasks).where(like(tasks.title, "instant %")),
      );
      const byTitle = (rows: { title: string; createdAt: Date }[]) =>
        Object.fromEntries(rows.map((row) => [row.title, row.createdAt.getTime()]));
      const expected = Object.fromEntries(instants.map((ms, i) => [`instant ${i}`, ms]));
      expect(byTitle(read)).toEqual(expected);
      expect(byTitle(inTransaction)).toEqual(expected);
    } finally {
      await withTenant(t.database.db, asA(), (tx) => tx.delete(tasks).where(like(tasks.title, "instant %")));
    }
  });

  it("refuse what is not a select before anything is sent", async () => {
    const { db } = readsFor(t.database.db, member());
    await expect(async () => db.execute(sql`select 1`)).rejects.toThrow("a one-statement read is a select");
    await expect(async () =>
      db.insert(projects).values({ tenantId: a.tenantId, name: "x", createdBy: a.userId }),
    ).rejects.toThrow("a one-statement read is a select");
    await expect(async () => db.transaction(async () => undefined)).rejects.toThrow("open no transaction");
    await expect(async () =>
      db
        .select({ id: projects.id })
        .from(projects)
        .where(eq(projects.name, sql`${sql.param(["a", "b"])}`)),
    ).rejects.toThrow("scalar values");
  });
});

describe("the statement cache (postgres.js)", () => {
  // A client that never connects: building queries does not open a connection.
  const client = () => postgres("postgres://nobody@127.0.0.1:9/none", { max: 1 });

  it("sends every query as a named statement, whatever the caller asked", () => {
    const wrapped = withStatementCache(client());
    const query = wrapped.unsafe("select $1::int", [1], { prepare: false }) as unknown as { options: object };
    expect(query.options).toMatchObject({ prepare: true });
    const withOptionsOnly = wrapped.unsafe("select 1", { prepare: false } as never) as unknown as typeof query;
    expect(withOptionsOnly).toMatchObject({ args: [], options: { prepare: true } });
  });

  it("hands out the same replacement methods on every read, made once per client", () => {
    // Replacements made in the proxy's trap on every read kept each query's rows alive through
    // young-generation collections (BENCHMARKS.md, "What held P2 under its line"): they are made once.
    const wrapped = withStatementCache(client());
    expect(wrapped.unsafe).toBe(wrapped.unsafe);
    expect(wrapped.begin).toBe(wrapped.begin);
    expect(wrapped.end).toBe(wrapped.end);
  });
});
