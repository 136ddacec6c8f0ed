import { is, type SQL, sql } from "drizzle-orm";
import { getTableConfig, PgDialect, PgTable } from "drizzle-orm/pg-core";
import { functionDrift } from "./functions.js";
import * as schema from "./schema.js";
import { schemaRuleProblems } from "./schema-rules.js";
import { type Db, rowsOf } from "./types.js";

export const defaultRuntimeRole = "bulkhead_app";

export interface PostureReport {
  /** Each a sentence naming what is wrong; the server refuses to start on any. */
  problems: string[];
  /** Worth an operator's attention but not unsafe in themselves. */
  warnings: string[];
}

interface RoleRow {
  rolname: string;
  rolsuper: boolean;
  rolbypassrls: boolean;
}
interface TableRow {
  table_name: string;
  relrowsecurity: boolean;
  relforcerowsecurity: boolean;
  commands: string[] | null;
  missing_clauses: string[] | null;
}

const commandNames = { r: "SELECT", a: "INSERT", w: "UPDATE", d: "DELETE" } as const;

/**
 * Verifies the database enforces isolation before a single request is served: the runtime role
 * cannot bypass RLS, and every table with a `tenant_id` column has RLS enabled and forced with
 * policies for every command (USING and WITH CHECK where the command takes them), definer
 * functions pin `search_path`, views over tenant data run with the caller's rights, and the
 * functions deployed are exactly those of `db/sql/functions/`.
 */
export async function checkPosture(db: Db, options: { runtimeRole?: string } = {}): Promise<PostureReport> {
  const runtimeRole = options.runtimeRole ?? defaultRuntimeRole;
  const problems: string[] = [];
  const warnings: string[] = [];

  const roles = rowsOf<RoleRow>(
    await db.execute(
      sql`select rolname, rolsuper, rolbypassrls from pg_catalog.pg_roles where rolname = ${runtimeRole}`,
    ),
  );
  const role = roles[0];
  if (!role) {
    problems.push(`runtime role ${runtimeRole} does not exist (run the migrations)`);
  } else {
    if (role.rolsuper) problems.push(`runtime role ${runtimeRole} is a superuser: superusers bypass RLS`);
    if (role.rolbypassrls) problems.push(`runtime role ${runtimeRole} has BYPASSRLS`);
  }

  // Every user table with a tenant_id column, with which commands its policies (applying to
  // the runtime role, directly or through PUBLIC) cover, and which lack USING / WITH CHECK.
  const tables = rowsOf<TableRow>(
    await db.execute(sql`
      select format('%I.%I', n.nspname, c.relname) as table_name,
             c.relrowsecurity, c.relforcerowsecurity,
             (select array_agg(distinct p.polcmd::text) from pg_catalog.pg_policy p
               where p.polrelid = c.oid and p.polpermissive
                 and (0 = any (p.polroles) or (select oid from pg_catalog.pg_roles where rolname = ${runtimeRole}) = any (p.polroles))
             ) as commands,
             (select array_agg(p.polname::text) from pg_catalog.pg_policy p
               where p.polrelid = c.oid
                 and ((p.polcmd in ('*', 'w') and (p.polqual is null or p.polwithcheck is null))
                   or (p.polcmd in ('r', 'd') and p.polqual is null)
                   or (p.polcmd = 'a' and p.polwithcheck is null))
             ) as missing_clauses
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p')
         and n.nspname not in ('pg_catalog', 'information_schema')
         and n.nspname not like 'pg\\_%'
         and exists (select 1 from pg_catalog.pg_attribute a
                      where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
       order by 1`),
  );
  if (tables.length === 0) problems.push("no tenant tables found (run the migrations)");
  for (const table of tables) {
    const name = table.table_name;
    if (!table.relrowsecurity) problems.push(`${name}: row-level security is not enabled`);
    if (!table.relforcerowsecurity) problems.push(`${name}: row-level security is not forced (the owner bypasses it)`);
    const commands = new Set(table.commands ?? []);
    for (const [code, command] of Object.entries(commandNames)) {
      if (!commands.has("*") && !commands.has(code)) {
        problems.push(`${name}: no policy for ${command} applies to ${runtimeRole}`);
      }
    }
    for (const policy of table.missing_clauses ?? []) {
      problems.push(`${name}: policy "${policy}" lacks USING or WITH CHECK`);
    }
  }

  const owned = rowsOf<{ name: string }>(
    await db.execute(sql`
      select format('%I.%I', n.nspname, c.relname) as name
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where pg_catalog.pg_get_userbyid(c.relowner) = ${runtimeRole} and c.relkind in ('r', 'p', 'v', 'm')`),
  );
  for (const row of owned) problems.push(`${row.name}: owned by the runtime role ${runtimeRole}`);

  // Every function of ours pins search_path, invoker functions too (supabase/splinter's
  // function_search_path_mutable): a caller's search_path must not decide what a name means
  // (docs/decisions/004-every-function-pins-search-path.md). A SQL-standard body (BEGIN ATOMIC)
  // has its names resolved when it is created, so no search_path reaches it.
  const unpinned = rowsOf<{ name: string; definer: boolean }>(
    await db.execute(sql`
      select format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as name,
             p.prosecdef as definer
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       where n.nspname not in ('pg_catalog', 'information_schema', 'drizzle')
         and n.nspname not like 'pg\\_%'
         and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
         and p.prosqlbody is null
         and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) as cfg where cfg like 'search\\_path=%')
       order by 1`),
  );
  for (const row of unpinned) {
    problems.push(`${row.definer ? "SECURITY DEFINER function" : "function"} ${row.name} does not pin search_path`);
  }

  // Transaction-local app.* settings go through SET LOCAL: Citus forwards SET LOCAL to its
  // workers and never set_config(), so a function that sets the tenant with it would leave the
  // workers' policies without one (docs/scaling-out.md).
  const setConfig = rowsOf<{ name: string }>(
    await db.execute(sql`
      select format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as name
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       where n.nspname not in ('pg_catalog', 'information_schema', 'drizzle')
         and n.nspname not like 'pg\\_%'
         and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
         and coalesce(p.prosrc, '') || coalesce(pg_catalog.pg_get_function_sqlbody(p.oid), '')
             ~* 'set_config\\s*\\(\\s*''app\\.'
       order by 1`),
  );
  for (const row of setConfig)
    problems.push(
      `function ${row.name} sets an app.* setting with set_config(): use SET LOCAL, which Citus forwards to its workers`,
    );

  problems.push(...(await policyProblems(db)));

  // The schema's isolation rules for every tenant table, a team's own included (db/schema-rules.ts).
  problems.push(...(await schemaRuleProblems(db, runtimeRole)));

  // The functions in schema `app` are exactly those of db/sql/functions/: bodies, rights,
  // search_path, owners and grants (a function changed by hand is a problem, not a warning).
  problems.push(...(await functionDrift(db)));

  const views = rowsOf<{ name: string }>(
    await db.execute(sql`
      select format('%I.%I', n.nspname, c.relname) as name
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'v'
         and n.nspname not in ('pg_catalog', 'information_schema')
         and n.nspname not like 'pg\\_%'
         -- An extension's own views (Citus's citus_tables) are the extension's business.
         and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
         and not coalesce('security_invoker=true' = any (c.reloptions), false)
         and not coalesce('security_invoker=on' = any (c.reloptions), false)`),
  );
  for (const row of views)
    problems.push(`view ${row.name} is not security_invoker: it would read tenant tables with its owner's rights`);

  warnings.push(...(await lints(db)));

  const session = rowsOf<{ session_user: string; rolsuper: boolean }>(
    await db.execute(sql`
      select session_user::text as session_user, r.rolsuper
        from pg_catalog.pg_roles r where r.rolname = session_user`),
  )[0];
  if (session?.rolsuper) {
    warnings.push(
      `connected as superuser ${session.session_user}: requests still switch to ${runtimeRole}, but connect as ${runtimeRole} in production`,
    );
  }

  return { problems, warnings };
}

interface PolicyRow {
  table_name: string;
  name: string;
  command: string;
  roles: string[];
  using: string | null;
  with_check: string | null;
}

const commandsOf: Record<string, string[]> = {
  all: ["SELECT", "INSERT", "UPDATE", "DELETE"],
  select: ["SELECT"],
  insert: ["INSERT"],
  update: ["UPDATE"],
  delete: ["DELETE"],
};

/**
 * An expression as both drizzle and PostgreSQL's deparser can be made to write it: no quotes,
 * table qualifiers, casts, parentheses or spaces, lower case. Enough to tell one policy from
 * another; not a parser.
 */
function normalExpression(expression: string | null | undefined, table: string): string | null {
  if (!expression) return null;
  return (
    expression
      .toLowerCase()
      .replaceAll('"', "")
      .replaceAll(`${table}.`, "")
      .replace(/::[a-z_ ]+/g, "")
      // The column alias PostgreSQL gives a scalar subquery's one column: `(select f(...) as f)`.
      .replace(/\s+as\s+[a-z_]+\s*(?=\))/g, "")
      .replace(/[()\s]/g, "")
  );
}

/** The policies `db/schema.ts` declares, as the catalogue should hold them. */
function declaredPolicies(): PolicyRow[] {
  const dialect = new PgDialect();
  const render = (expression: SQL | undefined) => (expression ? dialect.sqlToQuery(expression).sql : null);
  return (Object.values(schema) as unknown[])
    .filter((value): value is PgTable => is(value, PgTable))
    .flatMap((table) => {
      const config = getTableConfig(table);
      return config.policies.map((policy) => ({
        table_name: `public.${config.name}`,
        name: policy.name,
        command: policy.for ?? "all",
        roles: [policy.to ?? "public"].flat().map(String).sort(),
        using: render(policy.using),
        with_check: render(policy.withCheck),
      }));
    });
}

/**
 * The policies in the catalogue against `db/schema.ts` (names, commands, roles, expressions: any
 * drift, such as a name PostgreSQL truncated to 63 bytes or a policy edited by hand), and at most
 * one permissive policy per (table, role, command) (splinter's multiple_permissive_policies).
 */
async function policyProblems(db: Db): Promise<string[]> {
  const problems: string[] = [];
  const deployed = rowsOf<PolicyRow>(
    await db.execute(sql`
      select format('%I.%I', schemaname, tablename) as table_name, policyname as name, lower(cmd) as command,
             (select array_agg(r::text order by r::text) from unnest(roles) r) as roles,
             qual as using, with_check
        from pg_catalog.pg_policies
       where schemaname = 'public' and permissive = 'PERMISSIVE'`),
  );
  const key = (p: PolicyRow) => `${p.table_name}: policy "${p.name}"`;
  const found = new Map(deployed.map((p) => [key(p), p]));
  const declared = declaredPolicies();
  for (const want of declared) {
    const have = found.get(key(want));
    found.delete(key(want));
    const table = want.table_name.slice("public.".length);
    if (!have) {
      problems.push(`${key(want)} of db/schema.ts is not in the database`);
    } else if (
      have.command !== want.command ||
      have.roles.join(",") !== want.roles.join(",") ||
      normalExpression(have.using, table) !== normalExpression(want.using, table) ||
      normalExpression(have.with_check, table) !== normalExpression(want.with_check, table)
    ) {
      problems.push(`${key(want)} differs from db/schema.ts`);
    }
  }
  for (const extra of found.keys()) problems.push(`${extra} is not declared in db/schema.ts`);

  const seen = new Map<string, string[]>();
  for (const policy of deployed) {
    const roles = policy.roles.includes("public") ? [defaultRuntimeRole, "bulkhead_owner"] : policy.roles;
    for (const role of roles) {
      for (const command of commandsOf[policy.command] ?? []) {
        const slot = `${policy.table_name} for ${role} on ${command}`;
        seen.set(slot, [...(seen.get(slot) ?? []), policy.name]);
      }
    }
  }
  for (const [slot, names] of seen) {
    if (names.length > 1) problems.push(`${slot}: ${names.length} permissive policies (${names.join("; ")}), want one`);
  }
  return problems;
}

/** Thrown when the posture check fails; its message lists every problem. */
export class PostureError extends Error {
  constructor(readonly problems: string[]) {
    super(`database posture check failed:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "PostureError";
  }
}

/** Runs the posture check and throws `PostureError` naming every problem. */
export async function assertPosture(db: Db, options: { runtimeRole?: string } = {}): Promise<PostureReport> {
  const report = await checkPosture(db, options);
  if (report.problems.length > 0) throw new PostureError(report.problems);
  return report;
}

/**
 * The generic lints an outside linter (supabase/splinter) would raise on the schema, each a
 * warning that names its object: slow, not unsafe.
 * - a policy that calls `current_setting()` outside `(select ...)`, so once per row, not once
 *   per statement (`auth_rls_initplan`);
 * - a foreign key no index leads with (`unindexed_foreign_keys`): every delete of a parent scans;
 * - a table without a primary key (`no_primary_key`);
 * - two indexes of a table on the same columns, expressions and predicate (`duplicate_index`).
 */
export async function lints(db: Db): Promise<string[]> {
  const found = rowsOf<{ lint: string }>(
    await db.execute(sql`
      select format('lint auth_rls_initplan: %I.%I: policy "%s" calls current_setting() for each row', schemaname, tablename, policyname) as lint
        from pg_catalog.pg_policies
       where schemaname = 'public'
         and exists (
               select 1 from unnest(array[qual, with_check]) as e(expr)
                where (select count(*) from regexp_matches(e.expr, 'current_setting[(]', 'gi'))
                    > (select count(*) from regexp_matches(e.expr, 'select[[:space:]]+current_setting[(]', 'gi')))
      union all
      select format('lint unindexed_foreign_keys: %s: foreign key %s has no index leading with its columns', c.conrelid::regclass, c.conname)
        from pg_catalog.pg_constraint c join pg_catalog.pg_namespace n on n.oid = c.connamespace
       where c.contype = 'f' and n.nspname = 'public'
         and not exists (
               select 1 from pg_catalog.pg_index i
                where i.indrelid = c.conrelid
                  and (select array_agg(k order by k) from unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) k)
                    = (select array_agg(k order by k) from unnest(c.conkey) k))
      union all
      select format('lint no_primary_key: %I.%I has no primary key', n.nspname, t.relname)
        from pg_catalog.pg_class t join pg_catalog.pg_namespace n on n.oid = t.relnamespace
       where t.relkind in ('r', 'p') and n.nspname = 'public'
         and not exists (select 1 from pg_catalog.pg_index i where i.indrelid = t.oid and i.indisprimary)
      union all
      select format('lint duplicate_index: %s: %s', i.indrelid::regclass, string_agg(i.indexrelid::regclass::text, ', ' order by i.indexrelid::regclass::text))
        from pg_catalog.pg_index i join pg_catalog.pg_class t on t.oid = i.indrelid
        join pg_catalog.pg_namespace n on n.oid = t.relnamespace
       where n.nspname = 'public'
       group by i.indrelid, i.indkey::text, coalesce(pg_catalog.pg_get_expr(i.indexprs, i.indrelid), ''),
                coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '')
      having count(*) > 1
       order by 1`),
  );
  return found.map((row) => row.lint);
}
