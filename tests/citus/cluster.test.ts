/**
 * On a real Citus cluster (`npm run test:citus`; skipped without CITUS_URL): what `db:migrate`
 * distributed, that every shard keeps the isolation the coordinator's table has (a moved one
 * too), that a table added later is distributed by the next migration, and that the runtime
 * role's fan-out guard is on for requests.
 */
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { distribute } from "../../db/distribute.js";
import { tenantTables } from "../../db/schema-rules.js";
import { withTenant } from "../../db/tenant.js";
import { rowsOf } from "../../db/types.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { citusUrl } from "../helpers/engine.js";

describe.skipIf(!citusUrl)("on a Citus cluster", () => {
  let t: TestApp;
  let owner: postgres.Sql;
  const url = citusUrl ?? "";

  beforeAll(async () => {
    t = await createTestApp();
    owner = postgres(url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await owner.end();
    await t.close();
  });

  const rows = async <T>(query: ReturnType<typeof sql>) => rowsOf<T>(await t.db.admin.execute(query));

  it("distributed every tenant table by tenant_id, colocated, tenants as a reference table, app.read and app.api_key_take by p_tenant", async () => {
    const expected = (await tenantTables(t.db.admin)).map((name) => name.replace(/^public\./, ""));
    const placed = await rows<{ name: string; method: string; column: string | null; colocation: number }>(sql`
      select logicalrelid::regclass::text as name, partmethod as method,
             column_to_column_name(logicalrelid, partkey) as column, colocationid as colocation
        from pg_dist_partition order by 1`);
    expect(placed.find((p) => p.name === "tenants")?.method).toBe("n");
    const distributed = placed.filter((p) => p.method === "h");
    expect(distributed.map((p) => p.name).sort()).toEqual(expected.sort());
    expect(new Set(distributed.map((p) => p.column))).toEqual(new Set(["tenant_id"]));
    expect(new Set(distributed.map((p) => p.colocation)).size).toBe(1);
    const functions = await rows<{ fn: string; argument: number }>(sql`
      select objid::regprocedure::text as fn, distribution_argument_index as argument
        from pg_dist_object where classid = 'pg_proc'::regclass and distribution_argument_index is not null`);
    expect(functions.sort((x, y) => x.fn.localeCompare(y.fn))).toEqual([
      { fn: "app.api_key_take(uuid,uuid,text,integer,integer)", argument: 0 },
      { fn: "app.read(uuid,uuid,integer,uuid,text,text,text,text[],text)", argument: 0 },
    ]);
  });

  /** Per shard of every tenant table: RLS, FORCE, the owner, and how many policies. */
  const shardPosture = async () =>
    rows<{ table: string; shard: string; node: string; result: string }>(sql`
      select c.logicalrelid::regclass::text as table, r.shardid::text as shard, r.nodename || ':' || r.nodeport as node, r.result
        from pg_dist_partition c,
             lateral run_command_on_placements(c.logicalrelid, $cmd$
               select c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text || ' ' || pg_get_userbyid(c.relowner)
                      || ' ' || (select count(*) from pg_policy p where p.polrelid = c.oid)
                 from pg_class c where c.oid = '%s'::regclass $cmd$) r
       where c.partmethod = 'h'`);

  it("every shard placement keeps RLS, FORCE, the owner and the table's policies", async () => {
    const policies = await rows<{ table: string; n: number }>(sql`
      select tablename as table, count(*)::int as n from pg_policies where schemaname = 'public' group by 1`);
    const placements = await shardPosture();
    expect(placements.length).toBeGreaterThan(100);
    for (const p of placements) {
      const n = policies.find((row) => row.table === p.table)?.n ?? 0;
      expect(p.result, `${p.table} shard ${p.shard} on ${p.node}`).toBe(`true true bulkhead_owner ${n}`);
    }
  });

  it("a moved shard keeps RLS, FORCE, the owner and the policies", async () => {
    const [shard] = await rows<{ shard: string; node: string; port: number }>(sql`
      select s.shardid::text as shard, p.nodename as node, p.nodeport as port
        from pg_dist_shard s join pg_dist_placement pl using (shardid) join pg_dist_node p using (groupid)
       where s.logicalrelid = 'projects'::regclass and p.noderole = 'primary' and p.nodeport <> 9700
       order by s.shardid limit 1`);
    if (!shard) throw new Error("no shard of projects on a worker");
    const [target] = await rows<{ port: number }>(sql`
      select nodeport as port from pg_dist_node where isactive and nodeport not in (9700, ${shard.port}) limit 1`);
    if (!target) throw new Error("no other worker to move a shard to");
    await t.db.admin.execute(sql`
      select citus_move_shard_placement(${shard.shard}::bigint, ${shard.node}, ${shard.port}::int, ${shard.node}, ${target.port}::int,
                                        shard_transfer_mode => 'block_writes')`);
    const moved = (await shardPosture()).filter((p) => p.shard === shard.shard);
    expect(moved.map((p) => p.node)).toEqual([`${shard.node}:${target.port}`]);
    const [policies] = await rows<{ n: number }>(
      sql`select count(*)::int as n from pg_policies where tablename = 'projects'`,
    );
    expect(moved[0]?.result).toBe(`true true bulkhead_owner ${policies?.n}`);
  });

  /** A tenant table as a team's migration adds one (docs/adding-a-resource.md), `distribute` marking where it calls app.distribute_table. */
  const addTable = async (name: string, options: { distribute: boolean; keyToTasks: boolean }) => {
    for (const statement of [
      `create table public.${name} (tenant_id uuid not null references public.tenants (id),
         id uuid not null default gen_random_uuid(), task_id uuid not null, name text not null, primary key (tenant_id, id))`,
      `create index ${name}_task_idx on public.${name} (tenant_id, task_id)`,
      `alter table public.${name} owner to bulkhead_owner`,
      `alter table public.${name} enable row level security`,
      `alter table public.${name} force row level security`,
      `create policy "${name} within their tenant" on public.${name}
         using (tenant_id = app.current_tenant_id()) with check (tenant_id = app.current_tenant_id())`,
      ...(options.distribute ? [`select app.distribute_table('public.${name}')`] : []),
      ...(options.keyToTasks
        ? [`alter table public.${name} add foreign key (tenant_id, task_id) references public.tasks (tenant_id, id)`]
        : []),
    ])
      await owner.unsafe(statement);
  };
  const placement = async (name: string) =>
    (
      await rows<{ same: boolean; keys: number }>(sql`
        select (select colocationid from pg_dist_partition where logicalrelid = ${name}::regclass and partmethod = 'h')
             = (select colocationid from pg_dist_partition where logicalrelid = 'users'::regclass) as same,
               (select count(*)::int from pg_constraint where conrelid = ${name}::regclass and contype = 'f') as keys`)
    )[0];

  it("a tenant table a migration adds is distributed: by app.distribute_table with its keys, or by the next db:migrate", async () => {
    try {
      // As the recipe says: distributed before its key to tasks (a distributed table).
      await addTable("citus_scratch_labels", { distribute: true, keyToTasks: true });
      expect(await placement("citus_scratch_labels")).toEqual({ same: true, keys: 2 });
      // A migration that forgot to: the sweep after the migrations distributes it.
      await addTable("citus_scratch_notes", { distribute: false, keyToTasks: false });
      expect(await distribute(owner)).toEqual(["citus_scratch_notes: distributed by tenant_id"]);
      expect(await placement("citus_scratch_notes")).toEqual({ same: true, keys: 1 });
      // Run again, nothing is left to do.
      expect(await distribute(owner)).toEqual([]);
    } finally {
      await owner.unsafe("drop table if exists public.citus_scratch_labels, public.citus_scratch_notes");
    }
  });

  it("refuses, loudly, a request statement that would reach every shard (the runtime role's guard)", async () => {
    const a = await t.registerTenant("Guarded");
    const everyShard = withTenant(t.db.database.db, { tenantId: a.tenantId, userId: a.userId }, (tx) =>
      tx.execute(sql`select count(*) from projects`),
    );
    await expect(everyShard).rejects.toMatchObject({ cause: { message: "multi-task query about to be executed" } });
    // The same with the tenant named runs on one shard.
    const one = await withTenant(t.db.database.db, { tenantId: a.tenantId, userId: a.userId }, (tx) =>
      tx.execute(sql`select count(*)::int as n from projects where tenant_id = ${a.tenantId}`),
    );
    expect(rowsOf<{ n: number }>(one)[0]?.n).toBe(0);
  });
});
