import { sql } from "drizzle-orm";
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
  owned_by_runtime: boolean;
  commands: string[] | null;
  missing_clauses: string[] | null;
}

const commandNames = { r: "SELECT", a: "INSERT", w: "UPDATE", d: "DELETE" } as const;

/**
 * Verifies the database enforces isolation before a single request is served: the runtime role
 * cannot bypass RLS, and every table with a `tenant_id` column has RLS enabled and forced with
 * policies for every command (USING and WITH CHECK where the command takes them), definer
 * functions pin `search_path`, views over tenant data and one-statement reads run with the
 * caller's rights, and every one-statement read enters the tenant context first.
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
             pg_catalog.pg_get_userbyid(c.relowner) = ${runtimeRole} as owned_by_runtime,
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
    if (table.owned_by_runtime) problems.push(`${name}: owned by the runtime role ${runtimeRole}`);
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

  const definers = rowsOf<{ name: string }>(
    await db.execute(sql`
      select format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as name
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       where p.prosecdef
         and n.nspname not in ('pg_catalog', 'information_schema')
         and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) as cfg where cfg like 'search\\_path=%')`),
  );
  for (const row of definers) problems.push(`SECURITY DEFINER function ${row.name} does not pin search_path`);

  // One-statement reads (`app.read_*`) run as their caller and enter the tenant context first:
  // a definer read would run as its owner, and one that skipped `app.enter_read` would read with
  // no context and no membership check.
  const reads = rowsOf<{ name: string; definer: boolean; enters: boolean }>(
    await db.execute(sql`
      select format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as name,
             p.prosecdef as definer,
             pg_catalog.strpos(p.prosrc, 'app.enter_read(') > 0 as enters
        from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'app' and p.proname like 'read\\_%'`),
  );
  for (const row of reads) {
    if (row.definer)
      problems.push(`read function ${row.name} is SECURITY DEFINER: it would read with its owner's rights`);
    if (!row.enters) problems.push(`read function ${row.name} does not call app.enter_read`);
  }

  const views = rowsOf<{ name: string }>(
    await db.execute(sql`
      select format('%I.%I', n.nspname, c.relname) as name
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'v'
         and n.nspname not in ('pg_catalog', 'information_schema')
         and n.nspname not like 'pg\\_%'
         and not coalesce('security_invoker=true' = any (c.reloptions), false)
         and not coalesce('security_invoker=on' = any (c.reloptions), false)`),
  );
  for (const row of views)
    problems.push(`view ${row.name} is not security_invoker: it would read tenant tables with its owner's rights`);

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
