/**
 * `npm run doctor`: what an operator asks of a database before trusting it with tenants — every
 * check a pass or a failure with how to fix it. Read-only (every statement runs in a READ ONLY
 * transaction), so it is safe on production, and safe through PgBouncer.
 *
 * Checks: the roles' attributes; the migrations applied against the code's; the posture check
 * (RLS, policies and their drift, functions, and the schema's rules of `db/schema-rules.ts`);
 * the settings a pooler makes matter (prepared statements, `statement_timeout`); and, when
 * `pg_stat_statements` is loaded, the busiest statements over tenant tables that name no tenant.
 */
import { sql } from "drizzle-orm";
import { migrationState } from "./migrate.js";
import { checkPosture } from "./posture.js";
import { ownerRole as defaultOwnerRole, tenantTables } from "./schema-rules.js";
import { type Db, rowsOf } from "./types.js";

export interface Check {
  name: string;
  /** "skip": the check could not apply here (an extension not loaded), which is not a failure. */
  status: "pass" | "fail" | "skip";
  /** What was found: one line each. */
  details: string[];
  /** How to fix a failure. */
  hint?: string;
}

export interface DoctorOptions {
  /** Whether the server will use named prepared statements (DATABASE_PREPARE). */
  prepare: boolean;
  /** The owner role (default bulkhead_owner). */
  ownerRole?: string;
  /** The owner role may log in, on purpose (documented in docs/operations.md): do not fail on it. */
  allowOwnerLogin?: boolean;
  /** The port DATABASE_URL names: PostgreSQL answering on another means a pooler between. */
  urlPort?: number;
}

const check = (name: string, failures: string[], hint: string, passed: string[] = []): Check =>
  failures.length > 0 ? { name, status: "fail", details: failures, hint } : { name, status: "pass", details: passed };

/** Runs every check on `db` (connected as the runtime role, as the server connects). */
export async function runDoctor(db: Db, options: DoctorOptions): Promise<Check[]> {
  return db.transaction(
    async (tx) => {
      const read = <T>(query: ReturnType<typeof sql>) => tx.execute(query).then((result) => rowsOf<T>(result));
      const checks: Check[] = [];
      const ownerRole = options.ownerRole ?? defaultOwnerRole;

      // Roles: the runtime role is who the server connects as.
      const [runtime] = await read<{ name: string; super: boolean; bypass: boolean }>(sql`
      select r.rolname as name, r.rolsuper as super, r.rolbypassrls as bypass
        from pg_catalog.pg_roles r where r.rolname = current_user`);
      const [owner] = await read<{ login: boolean; super: boolean; bypass: boolean }>(sql`
      select r.rolcanlogin as login, r.rolsuper as super, r.rolbypassrls as bypass
        from pg_catalog.pg_roles r where r.rolname = ${ownerRole}`);
      const roleFailures: string[] = [];
      if (runtime?.super) roleFailures.push(`the runtime role ${runtime.name} is a superuser: superusers bypass RLS`);
      if (runtime?.bypass) roleFailures.push(`the runtime role ${runtime.name} has BYPASSRLS`);
      if (!owner) roleFailures.push(`the owner role ${ownerRole} does not exist (run the migrations)`);
      else {
        if (owner.super || owner.bypass)
          roleFailures.push(`the owner role ${ownerRole} is a superuser or has BYPASSRLS`);
        if (owner.login && !options.allowOwnerLogin) roleFailures.push(`the owner role ${ownerRole} can log in`);
      }
      checks.push(
        check(
          "roles",
          roleFailures,
          `ALTER ROLE ${runtime?.name ?? "bulkhead_app"} NOSUPERUSER NOBYPASSRLS; ALTER ROLE ${ownerRole} NOLOGIN (migrate with a role that is a member of it, or pass --allow-owner-login if it logs in on purpose)`,
          [`runtime role ${runtime?.name}: no superuser, no BYPASSRLS; owner role ${ownerRole}: no login`],
        ),
      );

      // Migrations: the code's journal against drizzle's table, in a savepoint (a missing table
      // would otherwise abort the checks after it).
      const state = await tx.transaction((inner) => migrationState(inner as unknown as Db)).catch(() => null);
      checks.push(
        check(
          "migrations",
          state === null
            ? ["no migrations table, or the runtime role cannot read it"]
            : [
                ...(state.pending > 0
                  ? [`${state.pending} of the code's ${state.total} migrations are not applied`]
                  : []),
                ...(state.unknown > 0
                  ? [
                      `${state.unknown} applied migration(s) the code does not have: is this code older than the database?`,
                    ]
                  : []),
              ],
          "run npm run db:migrate with DATABASE_MIGRATION_URL (or deploy the code that matches the database)",
          [`${state?.total} of ${state?.total} applied`],
        ),
      );

      // The posture check, as the server runs it at start (the schema's rules included).
      const posture = await checkPosture(tx as unknown as Db, { runtimeRole: runtime?.name ?? "bulkhead_app" });
      checks.push(
        check(
          "isolation posture",
          posture.problems,
          "each line names the object: fix it in a migration (docs/adding-a-resource.md lists the rules); the server refuses to start until then",
          [
            "RLS forced with policies on every tenant table, as db/schema.ts declares; functions pinned; the schema's rules hold",
          ],
        ),
      );

      // The pooler: named prepared statements do not survive PgBouncer's transaction mode, and a
      // statement without a timeout can hold a server connection for good.
      const [server] = await read<{ port: number | null; timeout: string }>(sql`
      select pg_catalog.inet_server_port() as port, pg_catalog.current_setting('statement_timeout') as timeout`);
      const poolerFailures: string[] = [];
      const pooled = options.urlPort !== undefined && server?.port != null && server.port !== options.urlPort;
      if (pooled && options.prepare) {
        poolerFailures.push(
          `a pooler sits between (port ${options.urlPort} reaches PostgreSQL on ${server?.port}) and DATABASE_PREPARE is on: named prepared statements break in PgBouncer's transaction mode`,
        );
      }
      if (server?.timeout === "0") {
        poolerFailures.push(
          `statement_timeout is 0 for ${runtime?.name}: a runaway statement holds its connection for good`,
        );
      }
      checks.push(
        check(
          "pooler and timeouts",
          poolerFailures,
          `behind PgBouncer set DATABASE_PREPARE=false; ALTER ROLE ${runtime?.name ?? "bulkhead_app"} SET statement_timeout = '5s' (migration 0006 sets it)`,
          [
            `${pooled ? `through a pooler (port ${options.urlPort} → ${server?.port}), prepared statements off` : "direct"}; statement_timeout ${server?.timeout}`,
          ],
        ),
      );

      checks.push(await statementsCheck(tx as unknown as Db));
      return checks;
    },
    { accessMode: "read only" },
  );
}

/** A statement pg_stat_statements kept: its text and what it cost. */
export interface StatementStat {
  query: string;
  calls: number;
  total_ms: number;
}

/**
 * The statements that read or write a tenant table and never name `tenant_id`: under RLS they
 * are still one tenant's, but the policy is their only filter, so no `(tenant_id, …)` index
 * leads their plan and on Citus they reach every shard. Calls of `app.*` functions name their
 * tenant inside, and are left out.
 */
export function unscopedStatements(stats: StatementStat[], tables: string[]): StatementStat[] {
  const names = tables.map((table) => table.replace(/^public\./, "").replaceAll('"', ""));
  const touches = new RegExp(`\\b(from|join|update|into)\\s+("?public"?\\.)?"?(${names.join("|")})"?\\b`, "i");
  return stats.filter(
    (stat) =>
      /^\s*(select|update|delete|with)\b/i.test(stat.query) &&
      touches.test(stat.query) &&
      !/\btenant_id\b/i.test(stat.query) &&
      !/\bapp\.\w+\s*\(/i.test(stat.query),
  );
}

async function statementsCheck(db: Db): Promise<Check> {
  const name = "statements without a tenant";
  const installed = rowsOf<{ n: number }>(
    await db.execute(sql`select count(*)::int as n from pg_catalog.pg_extension where extname = 'pg_stat_statements'`),
  )[0];
  if (!installed?.n) return { name, status: "skip", details: ["pg_stat_statements is not installed: nothing to read"] };
  let stats: StatementStat[];
  try {
    // A savepoint: the view errors when the library is not in shared_preload_libraries.
    stats = await db.transaction(async (inner) =>
      rowsOf<StatementStat>(
        await inner.execute(sql`
          select query, calls::int as calls, round(total_exec_time)::float8 as total_ms
            from pg_stat_statements order by total_exec_time desc limit 500`),
      ),
    );
  } catch {
    return {
      name,
      status: "skip",
      details: ["pg_stat_statements is installed but not loaded (shared_preload_libraries)"],
    };
  }
  const offenders = unscopedStatements(stats, await tenantTables(db)).slice(0, 10);
  return check(
    name,
    offenders.map(
      (stat) => `${stat.calls} calls, ${stat.total_ms} ms in all: ${stat.query.replace(/\s+/g, " ").slice(0, 200)}`,
    ),
    "name the tenant (eq(table.tenantId, …)) in each: the (tenant_id, …) indexes then lead the plan, and on Citus it reaches one shard",
    [`${stats.length} statements read; every one over a tenant table names tenant_id`],
  );
}
