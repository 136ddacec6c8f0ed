import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlStateOf } from "../db/errors.js";
import { beginWithContext } from "../db/pipelined.js";
import { readerFor, readFunction } from "../db/reads.js";
import { projects } from "../db/schema.js";
import { usesStatementCache, withStatementCache } from "../db/statement-cache.js";
import { withoutTenant, withTenant, withTenantPipelined } from "../db/tenant.js";
import { rowsOf } from "../db/types.js";
import { listProjects } from "../server/routers/projects.js";
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

describe("the pipelined opening statement", () => {
  it("inlines only strict uuids and a safe integer, and refuses anything else before sending", () => {
    const session = crypto.randomUUID();
    const ok = { tenantId: a.tenantId, userId: a.userId, sessionId: session, statementTimeoutMs: 5000 };
    expect(beginWithContext(true, ok)).toBe(
      `begin read only; select app.set_context('${a.tenantId}'::uuid, '${a.userId}'::uuid, 5000, '${session}'::uuid, false) as role`,
    );
    expect(beginWithContext(false, { tenantId: null, userId: null, sessionId: null, statementTimeoutMs: 1 })).toBe(
      "begin; select app.set_context(null::uuid, null::uuid, 1, null::uuid, true) as role",
    );
    const hostile = [
      { ...ok, tenantId: `${a.tenantId}'::uuid, null, 1); commit; select ('` },
      { ...ok, userId: `${a.userId}'--` },
      { ...ok, sessionId: `${session}'::uuid) as role; select ('` },
      { ...ok, tenantId: ` ${a.tenantId}` },
      { ...ok, tenantId: `${a.tenantId}\n` },
      { ...ok, statementTimeoutMs: 1.5 },
      { ...ok, statementTimeoutMs: Number.NaN },
      { ...ok, statementTimeoutMs: -1 },
    ];
    for (const context of hostile) expect(() => beginWithContext(true, context)).toThrow(/tenant context/);
  });

  it("a malformed tenant id fails the transaction before the procedure runs", async () => {
    let ran = false;
    const error = await failure(
      withTenantPipelined(
        t.database.db,
        { tenantId: "not-a-uuid", userId: a.userId },
        async () => {
          ran = true;
        },
        { readOnly: true },
      ),
    );
    expect(error).toBeInstanceOf(Error);
    expect(ran).toBe(false);
  });
});

describe("one-statement reads", () => {
  const context = () => ({
    tenantId: a.tenantId,
    userId: a.userId,
    sessionId: sessionOf(a),
    tenantSlug: null,
    statementTimeoutMs: 5000,
  });

  it("read a page as the caller's tenant, with dates from epoch milliseconds", async () => {
    const read = readerFor(t.database.db, context());
    const page = await listProjects(read, { limit: 10 });
    expect(page.items.map((p) => p.name)).toEqual(["A project"]);
    expect(page.items[0]?.createdAt).toBeInstanceOf(Date);
    const [created] = await withTenant(t.database.db, asA(), (tx) =>
      tx.select({ createdAt: projects.createdAt }).from(projects),
    );
    expect(page.items[0]?.createdAt.getTime()).toBe(created?.createdAt.getTime());
  });

  it("refuse a name that is not a read function, and columns that drifted from the function's", async () => {
    const idOnly = { columns: 1, row: (v: unknown[]) => ({ id: v[0] as string }) };
    expect(() => readFunction("set_context", [], idOnly)).toThrow("bad name or argument type");
    expect(() => readFunction("read_project", ["uuid; drop table projects"], idOnly)).toThrow("bad name");
    const drifted = readFunction<[string], { id: string }>("read_project", ["uuid"], idOnly);
    const [project] = await withTenant(t.database.db, asA(), (tx) => tx.select({ id: projects.id }).from(projects));
    await expect(drifted(t.database.db, context(), project?.id ?? "")).rejects.toThrow("6 columns returned");
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
    expect(usesStatementCache(wrapped)).toBe(true);
    expect(usesStatementCache(client())).toBe(false);
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
