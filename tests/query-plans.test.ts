/**
 * Every tenant-scoped statement the API sends can be served by an index, with the tenant policy
 * checked once per statement rather than once per row. A session calls every procedure while
 * postgres.js reports each statement it sends; each distinct one is then planned as the runtime
 * role, inside a tenant's context, with sequential scans priced out of reach
 * (`enable_seqscan = off`). A plan that still scans a tenant table sequentially has no index to
 * use; a Filter on `current_setting` means the policy runs per row because the statement does
 * not name its tenant (the explicit `tenant_id = …` predicate is what makes it a one-time check).
 * A one-statement read (`app.read`) carries its select's name, text and values as arguments:
 * each distinct select is planned the same way, and also where it runs — inside the function,
 * where `auto_explain` reports every nested statement's plan of each call the session made.
 * PostgreSQL only: that is where postgres.js reports statements (PGlite plans the same way).
 */
import postgres, { type Sql } from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenantTables as schemaTenantTables } from "../db/schema-rules.js";
import { createTestApp, signedIn, type TenantHandle, type TestApp } from "./helpers/app.js";
import { openTestDatabase, type TestDatabase } from "./helpers/db.js";
import { testEngine, urlFor } from "./helpers/engine.js";

/**
 * The tables a plan may not scan or sort whole: every table with a `tenant_id` column, from the
 * catalogue (a team's own included, without naming it here), and two keyed otherwise — `tenants`
 * by its id and `login_throttle` by its hashed key — whose every lookup must use their keys too.
 */
const tenantTables = new Set(["tenants", "login_throttle"]);

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

/** The tenant tables a plan node reads, itself or below it. */
function tablesUnder(node: PlanNode): string[] {
  const own = node["Relation Name"] && tenantTables.has(node["Relation Name"]) ? [node["Relation Name"]] : [];
  return [...own, ...(node.Plans ?? []).flatMap(tablesUnder)];
}

/**
 * What is wrong with a plan: a sequential scan of a tenant table, a per-row policy filter, or a
 * sort over a tenant table's rows (a page must come from an index in order: a sort reads every
 * row of the tenant first).
 */
function problemsOf(node: PlanNode, out: string[] = []): string[] {
  const relation = node["Relation Name"];
  if (node["Node Type"] === "Seq Scan" && relation && tenantTables.has(relation)) out.push(`seq scan on ${relation}`);
  if (node.Filter && /current_setting|current_tenant_id/.test(node.Filter))
    out.push(`per-row policy filter on ${relation ?? node["Node Type"]}`);
  if (node["Node Type"] === "Sort" && tablesUnder(node).length > 0) out.push(`sort of ${tablesUnder(node).join(", ")}`);
  for (const child of node.Plans ?? []) problemsOf(child, out);
  return out;
}

/** Statements that are not queries over tenant tables: transaction control and app functions. */
const skipped = (query: string) =>
  /^\s*(begin|commit|rollback|start transaction)\b/i.test(query) ||
  /^\s*select\s+(app\.|1\b)/i.test(query) ||
  isRead(query);

/** A call of a one-statement read (its select is planned separately). */
const isRead = (query: string) => /^select \* from app\.read\(/.test(query);

describe.runIf(testEngine === "postgres")("query plans of every tenant-scoped statement", () => {
  const sent = new Map<string, readonly unknown[]>();
  // Every call of a read function: its branches (first page, later page, filters) plan apart.
  const reads: [string, readonly unknown[]][] = [];
  // A prepared read sends its select's text only to a connection that has not prepared it
  // (decision 016): each call is replayed with the text its name stands for.
  const withText = () => {
    const texts = new Map(reads.filter(([, params]) => params[6] != null).map(([, params]) => [params[5], params[6]]));
    return reads.map(([query, params]) => {
      const text = params[6] ?? texts.get(params[5]);
      if (typeof text !== "string") throw new Error(`no text was ever sent for ${String(params[5])}`);
      return [query, [...params.slice(0, 6), text, ...params.slice(7)]] as [string, readonly unknown[]];
    });
  };
  let t: TestApp;
  let a: TenantHandle;
  let databaseName = "";
  // Opened here and handed to the app, which leaves closing it (and dropping it) to its opener.
  let db: TestDatabase | undefined;

  beforeAll(async () => {
    db = await openTestDatabase({
      onQuery: (query, params) => {
        sent.set(query, params);
        if (isRead(query)) reads.push([query, params]);
      },
    });
    databaseName = new URL(db.url ?? "").pathname.slice(1);
    for (const table of await schemaTenantTables(db.admin)) tenantTables.add(table.replace(/^public\./, ""));
    t = await createTestApp({ db });
    a = await t.registerTenant("Planned");
    const b = await t.registerTenant("Other");
    await b.client.projects.create.mutate({ name: "B's" });
    const member = await t.addMember(a, "member");
    const admin = await t.addMember(a, "admin");

    // Every procedure of API.md, the paged ones with a cursor too.
    const api = a.client;
    await api.auth.me.query();
    await api.tenant.get.query();
    await api.tenant.update.mutate({ name: "Planned, renamed" });
    const hinted = t.client(a.session, { "x-tenant": a.slug });
    await hinted.projects.list.query({});
    const members = await api.members.list.query({ limit: 1 });
    if (members.nextCursor) await api.members.list.query({ limit: 1, cursor: members.nextCursor });
    await api.members.updateRole.mutate({ userId: member.userId, role: "admin" });
    const projects = [];
    for (const name of ["one", "two", "three"]) projects.push(await api.projects.create.mutate({ name }));
    const [first, second] = projects;
    if (!first || !second) throw new Error("no projects");
    const page = await api.projects.list.query({ limit: 2 });
    if (page.nextCursor) await api.projects.list.query({ limit: 2, cursor: page.nextCursor });
    await api.projects.get.query({ id: first.id });
    await api.projects.update.mutate({ id: first.id, name: "one, renamed", description: "d" });
    await api.projects.stats.query();
    const tasks = [];
    for (const title of ["x", "y", "z"]) {
      tasks.push(await api.tasks.create.mutate({ projectId: first.id, title, assigneeId: member.userId }));
    }
    const [task] = tasks;
    if (!task) throw new Error("no tasks");
    const taskPage = await api.tasks.list.query({ projectId: first.id, limit: 2 });
    if (taskPage.nextCursor) await api.tasks.list.query({ projectId: first.id, limit: 2, cursor: taskPage.nextCursor });
    await api.tasks.list.query({ projectId: first.id, status: "todo" });
    await api.tasks.get.query({ id: task.id });
    await api.tasks.update.mutate({ id: task.id, status: "done", assigneeId: null });
    for (const body of ["c1", "c2", "c3"]) await api.comments.create.mutate({ taskId: task.id, body });
    const commentPage = await api.comments.list.query({ taskId: task.id, limit: 2 });
    if (commentPage.nextCursor)
      await api.comments.list.query({ taskId: task.id, limit: 2, cursor: commentPage.nextCursor });
    const [comment] = commentPage.items;
    if (comment) await api.comments.delete.mutate({ id: comment.id });
    await api.tasks.delete.mutate({ id: task.id });
    await api.projects.delete.mutate({ id: second.id });
    const audit = await api.audit.list.query({ limit: 2 });
    if (audit.nextCursor) await api.audit.list.query({ limit: 2, cursor: audit.nextCursor });
    await api.members.remove.mutate({ userId: admin.userId });
    const again = signedIn(
      await t.client().auth.login.mutate({
        tenantSlug: a.slug,
        email: `owner@${a.slug}.test`,
        password: "correct horse battery staple",
      }),
    );
    const refreshed = await t.client().auth.refresh.mutate({ refreshToken: again.refreshToken });
    await t.client(refreshed).auth.logout.mutate({ refreshToken: refreshed.refreshToken });
    await t.client(member.session).auth.logout.mutate({});
  });
  afterAll(async () => {
    await t?.close();
    await db?.close();
  });

  it("plans none of them with a sequential scan of a tenant table or a per-row policy check", async () => {
    const admin = (t.admin as unknown as { $client: Sql }).$client;
    // The selects the one-statement reads carried, with their values, planned like the rest
    // (postgres.js reports the values as it sent them, an array literal: PostgreSQL reads it back).
    const selects = await Promise.all(
      withText().map(async ([, params]) => {
        const rows = await admin.unsafe("select unnest($1::text[]) as value", [String(params[7])]);
        return [params[6] as string, rows.map((row) => row.value) as readonly unknown[]] as const;
      }),
    );
    expect(new Set(selects.map(([query]) => query)).size).toBeGreaterThanOrEqual(10);
    const statements = [...sent, ...selects].filter(([query]) => !skipped(query));
    // Enough distinct statements that the check cannot pass by seeing none.
    expect(statements.length).toBeGreaterThan(25);
    const problems: string[] = [];
    for (const [query, params] of statements) {
      const plan = await admin.begin(async (sql) => {
        await sql`set local role bulkhead_app`;
        await sql`select set_config('app.tenant_id', ${a.tenantId}, true), set_config('app.user_id', ${a.userId}, true)`;
        await sql`set local enable_seqscan = off`;
        await sql`set local enable_sort = off`;
        const rows = await sql.unsafe(`explain (format json) ${query}`, params as never[]);
        return (rows[0] as unknown as { "QUERY PLAN": { Plan: PlanNode }[] })["QUERY PLAN"][0]?.Plan;
      });
      if (!plan) throw new Error(`no plan for ${query}`);
      for (const problem of problemsOf(plan)) problems.push(`${problem}: ${query}`);
    }
    expect(problems).toEqual([]);
  });

  it("plans the queries inside every one-statement read the same way, where they run", async () => {
    const plans: PlanNode[] = [];
    // auto_explain reports each nested statement's plan as a NOTICE (LOAD needs a superuser).
    const admin = postgres(urlFor(databaseName), {
      max: 1,
      onnotice: (notice) => {
        const text = String(notice.message ?? "");
        const json = text.slice(text.indexOf("{"));
        const plan = (JSON.parse(json) as { Plan?: PlanNode }).Plan;
        if (plan) plans.push(plan);
      },
    });
    const problems: string[] = [];
    try {
      await admin`load 'auto_explain'`;
      for (const [query, params] of withText()) {
        plans.length = 0;
        await admin.begin(async (sql) => {
          // auto_explain's settings are a superuser's to set: before the switch to the runtime role.
          await sql`set local auto_explain.log_min_duration = 0`;
          await sql`set local auto_explain.log_nested_statements = on`;
          await sql`set local auto_explain.log_format = json`;
          await sql`set local auto_explain.log_level = notice`;
          await sql`set local enable_seqscan = off`;
          await sql`set local enable_sort = off`;
          await sql`set local role bulkhead_app`;
          await sql.unsafe(query, params as never[]);
        });
        const scans = plans.filter((plan) => tablesUnder(plan).length > 0);
        // The membership check and the page at least: the check cannot pass by seeing nothing.
        expect(scans.length, query).toBeGreaterThanOrEqual(2);
        for (const plan of scans) for (const problem of problemsOf(plan)) problems.push(`${problem}: ${query}`);
      }
    } finally {
      await admin.end();
    }
    expect(problems).toEqual([]);
  });

  it("routes every one to a single shard: each statement on a tenant table names its tenant (Citus)", () => {
    // On Citus a statement on a distributed table reaches one shard only when it fixes the
    // distribution column: `tenant_id = $n`, or the tenant_id an INSERT writes. The policy's
    // `app.current_tenant_id()` does not count (Citus cannot route on a function). Calls of our
    // functions are routed by what they run (app.read by its tenant argument, and its select is
    // checked here too); `tenants` is a reference table, on every node.
    const selects = withText().map(([, params]) => params[6] as string);
    const distributed = [...tenantTables].filter((table) => table !== "tenants" && table !== "login_throttle");
    const touches = (query: string) =>
      distributed.filter((table) => new RegExp(`\\b(from|join|update|into)\\s+"?${table}"?(\\s|$)`, "i").test(query));
    const statements = [...new Set([...sent.keys(), ...selects])].filter(
      (query) => !/^\s*select\s+(\*\s+from\s+)?app\./i.test(query) && touches(query).length > 0,
    );
    expect(statements.length).toBeGreaterThan(25);
    const namesItsTenant = (query: string) =>
      /^\s*insert\s+into\b/i.test(query) || /"?tenant_id"?\s*=\s*\$\d+/i.test(query);
    expect(statements.filter((query) => !namesItsTenant(query))).toEqual([]);
  });
});
