/**
 * Isolation pitfalls attacked through the real runtime role inside request transactions, and
 * through the API. Numbers follow the README's "Isolation guarantees" table.
 */
import { createHash } from "node:crypto";
import type { TRPCError } from "@trpc/server";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlStateOf } from "../../db/errors.js";
import { connectPostgres } from "../../db/postgres.js";
import { projects, tasks, users } from "../../db/schema.js";
import { withoutTenant, withTenant } from "../../db/tenant.js";
import { type Db, rowsOf, type Tx } from "../../db/types.js";
import {
  adminProcedure,
  createCallerFactory,
  router,
  tenantProcedure,
  tenantReadProcedure,
} from "../../server/trpc.js";
import {
  codeOf,
  createTestApp,
  createTwoTenants,
  password,
  sessionOf,
  signedIn,
  type TenantHandle,
  type TestApp,
} from "../helpers/app.js";
import { citusUrl } from "../helpers/engine.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
let bProject: string;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
  await a.client.projects.create.mutate({ name: "alpha-visible" });
  bProject = (await b.client.projects.create.mutate({ name: "beta-secret" })).id;
});
afterAll(() => t.close());

const asA = <T>(fn: (tx: Tx) => Promise<T>) =>
  withTenant(t.database.db, { tenantId: a.tenantId, userId: a.userId }, fn);
const stateOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (error: unknown) => sqlStateOf(error) ?? String(error),
  );

/**
 * What a connection holds between statements: tenant, user and role. Expected: no tenant, no
 * user, and the connection's own role (`bulkhead_app` on PostgreSQL; PGlite connects as the
 * superuser `postgres`).
 */
const leftoverContext = async (db: Db) =>
  rowsOf<{ tenant: string | null; user: string | null; role: string }>(
    await db.execute(
      sql`select nullif(current_setting('app.tenant_id', true), '') as tenant, nullif(current_setting('app.user_id', true), '') as user, current_user::text as role`,
    ),
  );

/** A request by member `who`, for throwaway routers built from the real tenantProcedure. */
const contextFor = (who: TenantHandle, config = t.config) => t.requestContext(who.session.accessToken, { config });

describe("isolation pitfalls (attacks)", () => {
  it("3. a foreign key cannot point at another tenant's row, and the refusal does not confirm it exists", async () => {
    const plant = (projectId: string) =>
      asA((tx) => tx.insert(tasks).values({ tenantId: a.tenantId, projectId, title: "planted" }));
    const toB = await stateOf(plant(bProject));
    const toNowhere = await stateOf(plant(crypto.randomUUID()));
    expect(toB).toBe("23503");
    expect(toB).toBe(toNowhere);
    // Through the API the two are byte-identical but for the request id.
    const body = async (projectId: string) => {
      const response = await t.app.request("/trpc/tasks.create", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${a.session.accessToken}` },
        body: JSON.stringify({ json: { projectId, title: "x" } }),
      });
      return (await response.text()).replaceAll(response.headers.get("x-request-id") ?? "", "");
    };
    expect(await body(bProject)).toBe(await body(crypto.randomUUID()));
  });

  it("4. unique values are per tenant: A can use an email that exists in B, and learns nothing", async () => {
    const invite = await a.client.members.invite.mutate({ email: b.session.user.email, role: "member" });
    const joined = await t.client().auth.acceptInvite.mutate({
      token: invite.token,
      name: "Same Email",
      password: "correct horse battery staple",
    });
    expect(joined.user.email).toBe(b.session.user.email);
    expect(joined.tenant.id).toBe(a.tenantId);
  });

  it("8. '' vs NULL: after a tenant transaction, no context reads 0 rows and raises no error", async () => {
    for (let i = 0; i < 3; i++) {
      await asA((tx) => tx.select().from(projects));
      const seen = await stateOf(withoutTenant(t.database.db, (tx) => tx.select().from(projects)));
      expect(seen).toBe("ok");
      expect(await withoutTenant(t.database.db, (tx) => tx.select().from(projects))).toEqual([]);
    }
    // The tenant-less API paths run the same way: an unknown tenant is UNAUTHORIZED, not a 500.
    expect(
      await codeOf(
        t.client().auth.login.mutate({ tenantSlug: "nobody-here", email: "x@example.com", password: "whatever" }),
      ),
    ).toBe("UNAUTHORIZED");
  });

  it("9. the context never outlives its transaction (pool of 1, alternating A, B and none)", async () => {
    const { openTestDatabase } = await import("../helpers/db.js");
    const single = t.engine === "postgres" ? await openTestDatabase({ poolMax: 1 }) : null;
    try {
      const app = single ? await createTestApp({ db: single }) : t;
      const x = single ? await app.registerTenant("X") : a;
      const y = single ? await app.registerTenant("Y") : b;
      await x.client.projects.create.mutate({ name: "x-project" });
      await y.client.projects.create.mutate({ name: "y-project" });
      const db = app.database.db;
      const none = [{ tenant: null, user: null, role: single ? "bulkhead_app" : "postgres" }];
      for (const who of [x, y, null, y, x, null]) {
        const names = who
          ? await withTenant(db, { tenantId: who.tenantId, userId: who.userId }, (tx) =>
              tx.select({ name: projects.name }).from(projects),
            )
          : await withoutTenant(db, (tx) => tx.select({ name: projects.name }).from(projects));
        if (who === x) expect(names.map((n) => n.name)).not.toContain("y-project");
        if (who === y) expect(names.map((n) => n.name)).not.toContain("x-project");
        if (who === null) expect(names).toEqual([]);
        expect(await leftoverContext(db)).toEqual(none);
      }
    } finally {
      await single?.close();
    }
  });

  it("12. moving a row to another tenant, or inserting with its id, is refused (FORBIDDEN, never 500)", async () => {
    // Citus refuses to change a row's distribution column (0A000) before RLS is asked.
    const moved = citusUrl ? ["42501", "0A000"] : ["42501"];
    expect(moved).toContain(await stateOf(asA((tx) => tx.update(projects).set({ tenantId: b.tenantId }))));
    expect(
      await stateOf(
        asA((tx) => tx.insert(projects).values({ tenantId: b.tenantId, name: "planted", createdBy: a.userId })),
      ),
    ).toBe("42501");
    expect(moved).toContain(
      await stateOf(asA((tx) => tx.update(users).set({ tenantId: b.tenantId }).where(sql`true`))),
    );

    // Surfaced by a procedure: FORBIDDEN, with nothing written.
    const evil = router({
      plant: tenantProcedure.mutation(({ ctx }) =>
        ctx.db.insert(projects).values({ tenantId: b.tenantId, name: "planted via api", createdBy: ctx.member.userId }),
      ),
    });
    await expect(createCallerFactory(evil)(contextFor(a)).plant()).rejects.toMatchObject({ code: "FORBIDDEN" });
    const theirs = await b.client.projects.list.query({ limit: 100 });
    expect(theirs.items.map((p) => p.name)).toContain("beta-secret");
    expect(theirs.items.map((p) => p.name)).not.toContain("planted via api");
  });

  it("13. INSERT ... RETURNING and ON CONFLICT upserts of B's keys create A's row or fail, never touch B's", async () => {
    const upserted = await asA((tx) =>
      tx
        .insert(projects)
        .values({ tenantId: a.tenantId, id: bProject, name: "upsert", createdBy: a.userId })
        .onConflictDoUpdate({ target: [projects.tenantId, projects.id], set: { name: "overwritten" } })
        .returning({ tenantId: projects.tenantId, name: projects.name }),
    );
    expect(upserted).toEqual([{ tenantId: a.tenantId, name: "upsert" }]);
    const nothing = await asA((tx) =>
      tx
        .insert(users)
        .values({
          tenantId: a.tenantId,
          email: b.session.user.email.toUpperCase().toLowerCase(),
          name: "n",
          passwordHash: "h",
          role: "member",
        })
        .onConflictDoNothing({ target: [users.tenantId, users.email] })
        .returning({ tenantId: users.tenantId }),
    );
    expect(nothing.every((row) => row.tenantId === a.tenantId)).toBe(true);
    expect(
      await stateOf(
        asA((tx) =>
          tx
            .insert(projects)
            .values({ tenantId: b.tenantId, id: bProject, name: "x", createdBy: a.userId })
            .onConflictDoUpdate({ target: [projects.tenantId, projects.id], set: { name: "hijacked" } }),
        ),
      ),
    ).toBe("42501");
    expect(await b.client.projects.get.query({ id: bProject })).toMatchObject({ name: "beta-secret" });
  });

  it("15. noisy neighbour: a runaway query is cancelled by the per-request statement_timeout; others answer", async () => {
    const config = { ...t.config, statementTimeoutMs: 300 };
    const slow = router({
      timeout: tenantProcedure.query(async ({ ctx }) =>
        rowsOf<{ statement_timeout: string }>(await ctx.db.execute(sql`show statement_timeout`)),
      ),
      runaway: tenantProcedure.query(({ ctx }) => ctx.db.execute(sql`select pg_sleep(5)`)),
      list: tenantProcedure.query(({ ctx }) => ctx.db.select({ id: projects.id }).from(projects)),
    });
    expect(await createCallerFactory(slow)(contextFor(a)).timeout()).toEqual([{ statement_timeout: "5s" }]); // the default
    expect(await createCallerFactory(slow)(contextFor(a, config)).timeout()).toEqual([{ statement_timeout: "300ms" }]);
    // PGlite (single-threaded WebAssembly, one connection) sets statement_timeout but cannot
    // enforce it: there a runaway query holds the only connection until it ends. See README.
    if (t.engine === "pglite") return;
    const started = Date.now();
    const [runaway, neighbour] = await Promise.allSettled([
      createCallerFactory(slow)(contextFor(a, config)).runaway(),
      new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
        createCallerFactory(slow)(contextFor(b, config)).list(),
      ),
    ]);
    expect(runaway.status).toBe("rejected");
    const error = (runaway as PromiseRejectedResult).reason as TRPCError;
    expect(error.code).toBe("TIMEOUT");
    expect(error.message).toBe("The request took too long and was cancelled");
    expect(neighbour).toMatchObject({ status: "fulfilled", value: [{ id: bProject }] });
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("16. membership is re-checked in every request: a removed member's token stops working at once", async () => {
    const member = await t.addMember(a, "member");
    expect(await codeOf(member.client.projects.list.query({}))).toBeNull();
    await a.client.members.remove.mutate({ userId: member.userId });
    const stale = t.client({ ...member.session });
    // Both kinds of query: a one-statement read and a query in a tenant transaction.
    expect(await codeOf(stale.projects.list.query({}))).toBe("UNAUTHORIZED");
    expect(await codeOf(stale.projects.stats.query())).toBe("UNAUTHORIZED");
    // A write runs before the membership answer arrives (it travels with the context), so it must
    // be rolled back, not merely unanswered.
    expect(await codeOf(stale.projects.create.mutate({ name: "written by a ghost" }))).toBe("UNAUTHORIZED");
    expect(await codeOf(stale.projects.delete.mutate({ id: crypto.randomUUID() }))).toBe("UNAUTHORIZED");
    const names = (await a.client.projects.list.query({ limit: 100 })).items.map((p) => p.name);
    expect(names).not.toContain("written by a ghost");
    const ghosts = await t.admin.execute(
      sql`select count(*)::int as n from audit_events where actor_id = ${member.userId} and action = 'project.created'`,
    );
    expect(JSON.stringify(ghosts)).toContain('"n":0');
  });

  it("17. inside a request transaction the role is bulkhead_app, never a superuser (PGlite too)", async () => {
    const who = await asA((tx) =>
      tx.execute(
        sql`select current_user::text as role, (select rolsuper from pg_roles where rolname = current_user) as superuser`,
      ),
    );
    expect(rowsOf(who)).toEqual([{ role: "bulkhead_app", superuser: false }]);
  });

  it("18. logging out ends the session's unexpired access tokens at once, and only that session's", async () => {
    const member = await t.addMember(a, "member");
    // A second session of the same member, from another login.
    const other = signedIn(
      await t.client().auth.login.mutate({
        tenantSlug: a.slug,
        email: member.session.user.email,
        password,
      }),
    );
    // Clients holding only the access tokens: no refresh-and-retry to hide the answer.
    const first = t.client({ ...member.session, refreshToken: "rt_none" });
    const second = t.client({ ...other, refreshToken: "rt_none" });
    expect(await codeOf(first.projects.list.query({}))).toBeNull();

    await member.client.auth.logout.mutate({ refreshToken: member.session.refreshToken });
    expect(await codeOf(first.projects.list.query({}))).toBe("UNAUTHORIZED");
    expect(await codeOf(first.projects.stats.query())).toBe("UNAUTHORIZED");
    // A write travels before the answer: it must be rolled back, not merely unanswered.
    expect(await codeOf(first.projects.create.mutate({ name: "written after logout" }))).toBe("UNAUTHORIZED");
    const names = (await a.client.projects.list.query({ limit: 100 })).items.map((p) => p.name);
    expect(names).not.toContain("written after logout");
    expect(await codeOf(second.projects.list.query({}))).toBeNull();

    // Logging out everywhere ends every session, this request's own included.
    await second.auth.logout.mutate({});
    expect(await codeOf(second.projects.list.query({}))).toBe("UNAUTHORIZED");
  });

  it("20. one-statement reads set their own context: only for a live member of the named tenant, and none survives", async () => {
    // Earlier tests gave A rows with the ids of B's first project: this one A has never seen.
    const secret = (await b.client.projects.create.mutate({ name: "beta-unseen" })).id;
    // One connection on PostgreSQL, so every call below meets the leftovers of the one before.
    const single = t.engine === "postgres" ? connectPostgres({ url: t.url ?? "", poolMax: 1 }) : null;
    try {
      const db = single ? single.db : t.database.db;
      const own = {
        tenant: a.tenantId,
        user: a.userId as string | null,
        session: sessionOf(a) as string | null,
        slug: null as string | null,
      };
      // The runtime role calling app.read itself, with whatever arguments it likes.
      const nameOf = (query: string) =>
        `bulkhead_read_${createHash("sha256").update(query).digest("hex").slice(0, 32)}`;
      const read = (
        args: Partial<typeof own>,
        query: string | null,
        values: string[] = [],
        name = nameOf(query ?? ""),
      ) => {
        const c = { ...own, ...args };
        return db.execute(
          sql`select * from app.read(${c.tenant}::uuid, ${c.user}::uuid, 5000, ${c.session}::uuid, ${c.slug}::text, ${name}::text, ${query}::text, ${sql.param(values)}::text[], null::text) as r(name text)`,
        );
      };
      // On Citus the read runs on a worker, whose runtime role refuses a statement that would
      // reach every shard: there the probes name a tenant (A's own, or B's: still nothing of B).
      const page = (args: Partial<typeof own>) =>
        citusUrl
          ? read(args, "select name from projects where tenant_id = $1 order by name", [a.tenantId])
          : read(args, "select name from projects order by name");
      const none = [{ tenant: null, user: null, role: single ? "bulkhead_app" : "postgres" }];

      const names = rowsOf<{ name: string }>(await page({})).map((row) => row.name);
      expect(names).toContain("alpha-visible");
      expect(names).not.toContain("beta-secret");
      expect(await leftoverContext(db)).toEqual(none);
      // Another tenant with A's credentials, A with another tenant's session, or no session or user.
      expect(await stateOf(page({ tenant: b.tenantId }))).toBe("BH401");
      expect(await stateOf(page({ session: sessionOf(b) }))).toBe("BH401");
      expect(await stateOf(page({ session: crypto.randomUUID() }))).toBe("BH401");
      expect(await stateOf(page({ session: null }))).toBe("BH401");
      expect(await stateOf(page({ user: null }))).toBe("BH401");
      expect(await stateOf(page({ slug: b.slug }))).toBe("BH403");
      expect(rowsOf(await page({ slug: a.slug })).length).toBe(names.length);
      expect(await leftoverContext(db)).toEqual(none);
      // B's rows read as missing ones in A's context, even asked for by id without a tenant filter.
      if (!citusUrl) expect(rowsOf(await read({}, "select name from projects where id = $1", [secret]))).toEqual([]);
      expect(
        rowsOf(await read({}, "select name from projects where tenant_id = $2 and id = $1", [secret, b.tenantId])),
      ).toEqual([]);
      // The query runs read-only, as one statement: no write, no second statement, no way out.
      expect(
        await stateOf(read({}, "select name from (select 1) s, lateral (delete from projects returning name) d")),
      ).toBe("42601");
      expect(
        await stateOf(read({}, "update projects set name = 'x' where tenant_id = $1 returning name", [a.tenantId])),
      ).toBe("25006");
      expect(await stateOf(read({}, "select name from projects; delete from projects"))).toBe("42601");
      expect(await leftoverContext(db)).toEqual(none);
      // Values are values: a quote in one is data, never SQL.
      const quoted = rowsOf<{ name: string }>(
        await read({}, "select $1::text as name", ["x'); delete from projects; --"]),
      );
      expect(quoted).toEqual([{ name: "x'); delete from projects; --" }]);
      // A statement runs by the SHA-256 of its text: once prepared, its name alone runs it; a name
      // that is not its text's hash, or not a read's name at all, runs nothing.
      const byName = `select name from projects where name = $1${citusUrl ? " and tenant_id = $2" : ""}`;
      const byNameValues = citusUrl ? ["alpha-visible", a.tenantId] : ["alpha-visible"];
      expect(rowsOf(await read({}, byName, byNameValues))).toEqual([{ name: "alpha-visible" }]);
      expect(rowsOf(await read({}, null, byNameValues, nameOf(byName)))).toEqual([{ name: "alpha-visible" }]);
      expect(await stateOf(read({}, null, [], nameOf("select 'never prepared' as name")))).toBe("26000");
      expect(await stateOf(read({}, "select name from projects", [], nameOf(byName)))).toBe("22023");
      expect(await stateOf(read({}, null, [], "bulkhead_read_x; delete from projects"))).toBe("22023");
      expect(await stateOf(read({}, null, [], null as unknown as string))).toBe("22023");
      expect(await leftoverContext(db)).toEqual(none);
      expect((await a.client.projects.list.query({ limit: 100 })).items.length).toBe(names.length);
      if (single) {
        // Outside a transaction nothing sets a timeout, so reads run under the role's default.
        expect(rowsOf(await db.execute(sql`show statement_timeout`))).toEqual([{ statement_timeout: "5s" }]);
      }
    } finally {
      await single?.close();
    }
    // Through the API: naming another tenant is FORBIDDEN, B's ids are NOT_FOUND as missing ones.
    const hinted = t.client(a.session, { "x-tenant": b.slug });
    expect(await codeOf(hinted.projects.list.query({}))).toBe("FORBIDDEN");
    expect(await codeOf(hinted.tasks.get.query({ id: crypto.randomUUID() }))).toBe("FORBIDDEN");
    expect(await codeOf(a.client.projects.get.query({ id: secret }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.tasks.list.query({ projectId: secret }))).toBe("NOT_FOUND");
  });

  it("21. no code of a procedure runs for a non-member: removed, signed out, or naming another tenant", async () => {
    const ran: string[] = [];
    const spy = router({
      query: tenantProcedure.query(() => {
        ran.push("query");
        return "answered";
      }),
      mutation: tenantProcedure.mutation(() => {
        ran.push("mutation");
        return "done";
      }),
      admin: adminProcedure.mutation(() => {
        ran.push("admin");
        return "done";
      }),
      // A read procedure that answers without reading: it must never answer at all.
      unread: tenantReadProcedure.query(() => "answered without a read"),
    });
    const call = (ctx: ReturnType<typeof contextFor>) => createCallerFactory(spy)(ctx);
    const outcome = (promise: Promise<unknown>) =>
      promise.then(
        (value) => value,
        (error: { code?: string }) => error.code,
      );
    const removed = await t.addMember(a, "admin");
    const signedOut = await t.addMember(a, "admin");
    expect(await call(contextFor(removed)).admin()).toBe("done");
    ran.length = 0;
    await a.client.members.remove.mutate({ userId: removed.userId });
    await signedOut.client.auth.logout.mutate({});

    for (const who of [removed, signedOut]) {
      expect(await outcome(call(contextFor(who)).query())).toBe("UNAUTHORIZED");
      expect(await outcome(call(contextFor(who)).mutation())).toBe("UNAUTHORIZED");
      expect(await outcome(call(contextFor(who)).admin())).toBe("UNAUTHORIZED");
    }
    const elsewhere = { ...contextFor(a), tenantHint: b.slug };
    expect(await outcome(call(elsewhere).query())).toBe("FORBIDDEN");
    expect(await outcome(call(elsewhere).mutation())).toBe("FORBIDDEN");
    expect(ran).toEqual([]);
    // A member gets through, and a read procedure that never read answers nobody.
    expect(await call(contextFor(a)).query()).toBe("answered");
    expect(ran).toEqual(["query"]);
    expect(await outcome(call(contextFor(a)).unread())).toBe("INTERNAL_SERVER_ERROR");
  });
});
