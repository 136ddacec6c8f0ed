/**
 * The schema's isolation rules, read from the catalogue: what a team's own tables must obey as
 * much as ours. One query per rule, each problem a sentence naming the object. The posture check
 * runs them at every start (the server refuses to serve on any) and `npm run doctor` on demand.
 *
 * A tenant table is any table with a `tenant_id` column, wherever it is declared: a table added
 * by hand or by a migration is held to the rules the moment it exists.
 */
import { type SQL, sql } from "drizzle-orm";
import { type Db, rowsOf } from "./types.js";

export const ownerRole = "bulkhead_owner";

/**
 * Unique indexes on tenant tables that may leave `tenant_id` out, each with why. A unique index
 * without it answers a CONFLICT when *another* tenant holds the value, which tells one tenant
 * about another's rows; only a value that is globally unique by construction (a random token's
 * hash, say) may skip it. Empty: every unique index of the schema includes `tenant_id`.
 */
export const uniqueWithoutTenant: Record<string, string> = {};

/**
 * What the runtime role may do to each table, and nothing more (`db/sql` and the migrations
 * grant it). A grant beyond this set — TRUNCATE, REFERENCES, a column, a table of a team's own
 * granted ALL — is a problem until it is declared here.
 */
export const runtimeGrants: Record<string, readonly string[]> = {
  "drizzle.__drizzle_migrations": ["SELECT"],
  "public.api_key_usage": ["INSERT", "SELECT", "UPDATE"],
  "public.api_keys": ["INSERT", "SELECT", "UPDATE"],
  "public.audit_events": ["INSERT", "SELECT"],
  "public.comments": ["DELETE", "INSERT", "SELECT"],
  "public.event_sequences": ["INSERT", "SELECT", "UPDATE"],
  "public.events": ["INSERT", "SELECT"],
  "public.invitations": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.mfa_challenges": ["INSERT", "SELECT", "UPDATE"],
  "public.outbox": ["INSERT"],
  "public.passkeys": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.password_resets": ["INSERT", "SELECT", "UPDATE"],
  "public.projects": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.recovery_codes": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.refresh_tokens": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.tasks": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.tenant_limits": ["SELECT"],
  "public.tenant_usage": ["INSERT", "SELECT", "UPDATE"],
  "public.tenants": ["INSERT", "SELECT", "UPDATE"],
  "public.totp_factors": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.users": ["DELETE", "INSERT", "SELECT", "UPDATE"],
  "public.verifications": ["INSERT", "SELECT", "UPDATE"],
  "public.webhook_deliveries": ["INSERT", "SELECT", "UPDATE"],
  "public.webhooks": ["DELETE", "INSERT", "SELECT", "UPDATE"],
};

/** Every table with a `tenant_id` column, its name and that column's number (partitions left out). */
const tenantTablesCte = sql`
  with tenant_tables as (
    select c.oid, format('%I.%I', n.nspname, c.relname) as name, c.relowner, a.attnum as tenant_col
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
     where c.relkind in ('r', 'p') and not c.relispartition
       and n.nspname not in ('pg_catalog', 'information_schema')
       and n.nspname not like 'pg\\_%'
       and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
  )`;

async function problemsOf(db: Db, query: SQL): Promise<string[]> {
  return rowsOf<{ problem: string }>(await db.execute(query)).map((row) => row.problem);
}

/** The tenant tables in the database, by name (`public.projects`, …). */
export async function tenantTables(db: Db): Promise<string[]> {
  return rowsOf<{ name: string }>(
    await db.execute(sql`${tenantTablesCte} select name from tenant_tables order by 1`),
  ).map((row) => row.name);
}

/** Every rule's problems, in rule order. */
export async function schemaRuleProblems(db: Db, runtimeRole: string): Promise<string[]> {
  const allowed = `{${Object.keys(uniqueWithoutTenant).join(",")}}`;
  const rules = [
    // Owned by the owner role, which holds no login and bypasses nothing: a table owned by
    // anyone else escapes the grants and the FORCE the migrations set up.
    sql`${tenantTablesCte}
      select format('%s: owned by %s, not %s', t.name, pg_catalog.pg_get_userbyid(t.relowner), ${ownerRole}::text) as problem
        from tenant_tables t
       where pg_catalog.pg_get_userbyid(t.relowner) <> ${ownerRole}
       order by 1`,
    // A foreign key between tenant tables that leaves tenant_id out lets a row of one tenant
    // point at another tenant's row.
    sql`${tenantTablesCte}
      select format('%s: foreign key %I to %s does not include tenant_id (a row could point at another tenant''s)',
                    f.name, con.conname, r.name) as problem
        from pg_catalog.pg_constraint con
        join tenant_tables f on f.oid = con.conrelid
        join tenant_tables r on r.oid = con.confrelid
       where con.contype = 'f'
         and not exists (select 1 from generate_subscripts(con.conkey, 1) as i
                          where con.conkey[i] = f.tenant_col and con.confkey[i] = r.tenant_col)
       order by 1`,
    // A unique index without tenant_id answers CONFLICT for another tenant's value.
    sql`${tenantTablesCte}
      select format('%s: unique index %s does not include tenant_id (a conflict would tell one tenant about another''s rows)',
                    t.name, i.indexrelid::regclass) as problem
        from pg_catalog.pg_index i
        join tenant_tables t on t.oid = i.indrelid
       where i.indisunique
         and not (t.tenant_col = any ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
         and not (i.indexrelid::regclass::text = any (${allowed}::text[]))
       order by 1`,
    // Without an index that leads with tenant_id, one tenant's query reads every tenant's rows.
    sql`${tenantTablesCte}
      select format('%s: no index leads with tenant_id (a tenant''s query would scan every tenant''s rows)', t.name) as problem
        from tenant_tables t
       where not exists (select 1 from pg_catalog.pg_index i where i.indrelid = t.oid and i.indkey[0] = t.tenant_col)
       order by 1`,
    // The runtime role's grants on tables and columns (directly or through PUBLIC), its schema
    // CREATE rights and its role memberships; what is beyond the declared set is named.
    sql`
      with runtime as (select oid from pg_catalog.pg_roles where rolname = ${runtimeRole}),
      relations as (
        select c.oid, c.relacl, format('%I.%I', n.nspname, c.relname) as name
          from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p', 'v', 'm', 'f')
           and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
           -- An extension's own objects (Citus's views and catalogues) grant what it decides.
           and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
      )
      select format('%s: the runtime role may %s', r.name, acl.privilege_type) as problem
        from relations r cross join lateral pg_catalog.aclexplode(r.relacl) acl
       where acl.grantee = 0 or acl.grantee = (select oid from runtime)
      union
      select format('%s: the runtime role may %s (column %I)', r.name, acl.privilege_type, a.attname)
        from relations r
        join pg_catalog.pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and a.attacl is not null
        cross join lateral pg_catalog.aclexplode(a.attacl) acl
       where acl.grantee = 0 or acl.grantee = (select oid from runtime)
      union
      select format('schema %I: the runtime role may CREATE', n.nspname)
        from pg_catalog.pg_namespace n
       where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
         and pg_catalog.has_schema_privilege(${runtimeRole}, n.oid, 'CREATE')
      union
      select format('the runtime role is a member of %s', pg_catalog.pg_get_userbyid(m.roleid))
        from pg_catalog.pg_auth_members m
       where m.member = (select oid from pg_catalog.pg_roles where rolname = ${runtimeRole})
       order by 1`,
  ];
  const found: string[] = [];
  for (const rule of rules) found.push(...(await problemsOf(db, rule)));
  return found.filter((problem) => !declaredGrant(problem));
}

/** Whether a "may X" line of the grants rule is one `runtimeGrants` declares. */
function declaredGrant(problem: string): boolean {
  const match = /^(\S+): the runtime role may ([A-Z]+)$/.exec(problem);
  return match !== null && (runtimeGrants[match[1] as string]?.includes(match[2] as string) ?? false);
}
