/**
 * The Citus path of the migrations (docs/scaling-out.md): run by `migratePostgresUrl` after the
 * versioned migrations and the functions, and a no-op unless the `citus` extension is installed.
 * Idempotent, so every `npm run db:migrate` leaves a cluster fully distributed, a tenant table
 * added by a later migration included:
 * - `tenants` becomes a reference table (a copy on every node: its slug is unique across tenants);
 * - every table with a `tenant_id` column (from the catalogue) is distributed by it, colocated
 *   with `users`; the foreign keys between tenant tables are dropped first and re-added after,
 *   because Citus refuses them while either side is still local;
 * - `app.read`, the one-statement read, becomes a distributed function on `p_tenant`, so the
 *   whole call runs on the worker that holds the tenant's shards;
 * - the runtime role forwards `SET LOCAL` to the workers and refuses, loudly, any statement that
 *   would fan out to every shard (the background jobs' functions lift that for themselves);
 * - the owner role may log in, because Citus opens its worker connections as the current user
 *   and the jobs' definer functions run as the owner (restrict it in pg_hba.conf).
 */
import postgres from "postgres";
import { ownerRole } from "./schema-rules.js";

type Client = postgres.Sql;

/**
 * The functions a server calls as one statement, without a transaction of their own, and the
 * argument each is distributed by: the one-statement read, and an API key's budget. Run on the
 * worker that holds the tenant's shards, they read under RLS there; on the coordinator, outside
 * a transaction block, the tenant they set would not reach the workers.
 */
export const distributedFunctions = [
  { signature: "app.read(uuid, uuid, integer, uuid, text, text, text, text[], text)", argument: "p_tenant" },
  { signature: "app.api_key_take(uuid, uuid, text, integer, integer)", argument: "p_tenant" },
];

/** The table every tenant table is colocated with. */
const colocateWith = "public.users";

/** The coordinator of the local cluster `../shared/citus/cluster.sh` runs: where CITUS_URL points by default. */
export const localCitusUrl = "postgres://postgres@127.0.0.1:9700/bulkhead";

/**
 * The Citus version of the database at `url`, or null when nothing answers there within 3 s or
 * it has no Citus (how `npm run test:citus` and bench P11 decide to skip).
 */
export async function citusVersionAt(url: string): Promise<string | null> {
  const client = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    const rows = await client<
      { version: string }[]
    >`select extversion as version from pg_catalog.pg_extension where extname = 'citus'`;
    return rows[0]?.version ?? null;
  } catch {
    return null;
  } finally {
    await client.end({ timeout: 1 });
  }
}

/** Whether the database has Citus (the coordinator of a cluster). */
export async function hasCitus(client: Client): Promise<boolean> {
  const rows = await client`select 1 from pg_catalog.pg_extension where extname = 'citus'`;
  return rows.length > 0;
}

/**
 * Distributes what is not yet distributed; returns what it did, a line each (nothing: a plain
 * PostgreSQL, or a cluster already up to date).
 */
export async function distribute(client: Client, runtimeRole = "bulkhead_app"): Promise<string[]> {
  if (!(await hasCitus(client))) return [];
  const done: string[] = [];
  // Our tables carry statement-level quota triggers: Citus copies them to every shard.
  await client`set citus.enable_unsafe_triggers = on`;

  // Placed: tenants as a reference table ('n', replicated), tenant tables hash-distributed. A
  // table Citus added to its metadata on its own (a new table with a key to tenants is a "Citus
  // local table") is not placed yet.
  const placed = new Set(
    (
      await client<{ name: string }[]>`
        select logicalrelid::regclass::text as name from pg_catalog.pg_dist_partition
         where partmethod = 'h' or (partmethod = 'n' and repmodel = 't')`
    ).map((row) => row.name),
  );
  const tenantTables = (
    await client<{ name: string }[]>`
      select c.relname as name
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
       where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
         and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
       order by c.relname = 'users' desc, c.relname`
  ).map((row) => row.name);
  const pending = [...(placed.has("tenants") ? [] : ["tenants"]), ...tenantTables.filter((name) => !placed.has(name))];

  // Foreign keys among tenants and the tenant tables that touch a table still to be placed:
  // dropped, then re-added once both sides are placed (Citus refuses them while one side is
  // local, and would turn the local side into a "Citus local table" it cannot keep policies on).
  const related = ["tenants", ...tenantTables];
  // One transaction: a failure leaves every key as it was, nothing half distributed.
  await client.begin(async (tx) => {
    // Keys to a reference table inside one transaction need one connection per node.
    await tx`set local citus.multi_shard_modify_mode to 'sequential'`;
    const keys = await tx<{ table: string; name: string; definition: string }[]>`
      select con.conrelid::regclass::text as table, con.conname as name,
             pg_catalog.pg_get_constraintdef(con.oid) as definition
        from pg_catalog.pg_constraint con
       where con.contype = 'f'
         and con.conrelid::regclass::text = any (${related})
         and con.confrelid::regclass::text = any (${related})
         and (con.conrelid::regclass::text = any (${pending}) or con.confrelid::regclass::text = any (${pending}))`;
    for (const key of keys) await tx.unsafe(`alter table public.${key.table} drop constraint "${key.name}"`);
    for (const name of pending) {
      if (name === "tenants") {
        await tx`select create_reference_table('public.tenants')`;
        done.push("tenants: reference table");
        continue;
      }
      if (name === "users") await tx`select create_distributed_table('public.users', 'tenant_id')`;
      else {
        await tx`select create_distributed_table(${`public.${name}`}, 'tenant_id', colocate_with => ${colocateWith})`;
      }
      done.push(`${name}: distributed by tenant_id`);
    }
    for (const key of keys) {
      await tx.unsafe(`alter table public.${key.table} add constraint "${key.name}" ${key.definition}`);
    }
  });

  for (const fn of distributedFunctions) {
    const already = await client`
      select 1 from pg_catalog.pg_dist_object
       where classid = 'pg_catalog.pg_proc'::regclass and objid = ${fn.signature}::regprocedure
         and distribution_argument_index is not null`;
    if (already.length > 0) continue;
    await client`select create_distributed_function(${fn.signature}, ${fn.argument}, colocate_with => ${colocateWith})`;
    done.push(`${fn.signature}: distributed by ${fn.argument}`);
  }

  // A shard move creates the shard's table on the target as its owner (PostgreSQL 15 lets no
  // one but the database owner CREATE in public by default).
  await client.unsafe(`grant create on schema public to ${ownerRole}`);
  // Role settings are cluster-wide (Citus propagates ALTER ROLE); setting them again is harmless.
  await client.unsafe(`alter role ${runtimeRole} set citus.propagate_set_commands = 'local'`);
  await client.unsafe(`alter role ${runtimeRole} set citus.multi_task_query_log_level = 'error'`);
  const owner = await client<
    { login: boolean }[]
  >`select rolcanlogin as login from pg_catalog.pg_roles where rolname = ${ownerRole}`;
  if (!owner[0]?.login) {
    await client.unsafe(`alter role ${ownerRole} login`);
    done.push(`${ownerRole}: LOGIN, for the workers (restrict it to the coordinator in pg_hba.conf)`);
  }
  return done;
}
