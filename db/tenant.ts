import { sql } from "drizzle-orm";
import { pipelinedTransaction, postgresClientOf } from "./pipelined.js";
import type { MemberRole } from "./schema.js";
import { type Db, rowsOf, type Tx } from "./types.js";

/**
 * Who a transaction acts for. `userId` may be null (e.g. during login, before a user is known).
 * `sessionId` is the session a request's access token names: the caller's role is read only
 * while that session is live. Leave it out only where a session is being started or renewed.
 */
export interface TenantContext {
  tenantId: string;
  userId: string | null;
  sessionId?: string | null;
}

export interface ContextOptions {
  /** `statement_timeout` for this transaction only, in milliseconds (default 5000). */
  statementTimeoutMs?: number;
  /**
   * Hold the caller's membership row (`FOR KEY SHARE`) until the transaction ends, so a removal
   * or demotion waits for this transaction's writes. Read-write transactions do (the default);
   * reads do not (docs/decisions/003-write-transactions-hold-the-membership.md).
   */
  lockMember?: boolean;
}

/** Tells `runInContext` to roll back without an error of its own (see `tenantProcedure`). */
export class Rollback extends Error {
  constructor() {
    super("rollback");
    this.name = "Rollback";
  }
}

/**
 * Sets (or replaces) the context inside an open transaction, returning the user's current role.
 * `withTenant` calls it first thing; registration calls it again to act as the tenant it created.
 */
export async function enterTenant(
  tx: Tx,
  context: TenantContext | null,
  options: ContextOptions = {},
): Promise<MemberRole | null> {
  // One round trip: role switch, tenant, user and statement timeout, all transaction-local,
  // and the caller's current role read back under RLS.
  const timeout = options.statementTimeoutMs ?? 5000;
  const lock = options.lockMember ?? true;
  const result = await tx.execute(
    sql`select app.set_context(${context?.tenantId ?? null}::uuid, ${context?.userId ?? null}::uuid, ${timeout}::integer, ${context?.sessionId ?? null}::uuid, ${lock}::boolean) as role`,
  );
  return rowsOf<{ role: MemberRole | null }>(result)[0]?.role ?? null;
}

export interface PipelineOptions extends ContextOptions {
  /** `BEGIN READ ONLY`: for queries, so a read path cannot write even by mistake. */
  readOnly?: boolean;
}

async function runInContext<T>(
  db: Db,
  context: TenantContext | null,
  options: PipelineOptions,
  fn: (tx: Tx, role: Promise<MemberRole | null>) => Promise<T>,
): Promise<T> {
  const client = postgresClientOf(db);
  if (client) {
    return pipelinedTransaction(
      client,
      options.readOnly ?? false,
      {
        tenantId: context?.tenantId ?? null,
        userId: context?.userId ?? null,
        sessionId: context?.sessionId ?? null,
        statementTimeoutMs: options.statementTimeoutMs ?? 5000,
      },
      fn,
    );
  }
  return db.transaction(
    async (tx) => {
      const role = await enterTenant(tx, context, { ...options, lockMember: !options.readOnly });
      return fn(tx, Promise.resolve(role));
    },
    options.readOnly ? { accessMode: "read only" } : undefined,
  );
}

/**
 * Like `withTenant`, but `fn` starts before the context's answer arrives, so its first statement
 * travels with BEGIN and the context in one round trip (on PostgreSQL). `role` resolves to the
 * caller's current role (null: not a member); the caller must await it and discard everything
 * `fn` produced — the transaction rolls back when `fn` throws — unless it is a role it accepts.
 * `tenantProcedure` uses this; every statement still runs inside the tenant's context.
 */
export function withTenantPipelined<T>(
  db: Db,
  context: TenantContext,
  fn: (tx: Tx, role: Promise<MemberRole | null>) => Promise<T>,
  options: PipelineOptions = {},
): Promise<T> {
  return runInContext(db, context, options, fn);
}

/**
 * Runs `fn` in a transaction scoped to one tenant: as `bulkhead_app`, with `app.tenant_id` and
 * `app.user_id` set transaction-locally, so RLS confines every statement to that tenant. The only
 * way procedures reach tenant data. `role` is the user's current role in the tenant, or null
 * when `userId` is not (or no longer) a member.
 *
 * @example
 * const rows = await withTenant(db, { tenantId, userId }, (tx) => tx.select().from(projects));
 */
export function withTenant<T>(
  db: Db,
  context: TenantContext,
  fn: (tx: Tx, role: MemberRole | null) => Promise<T>,
  options: ContextOptions = {},
): Promise<T> {
  return runInContext(db, context, options, async (tx, role) => fn(tx, await role));
}

/**
 * Runs `fn` as `bulkhead_app` with no tenant: every tenant table reads as empty and refuses
 * writes. Tenant-less paths (registration, slug resolution, login throttling) call the narrow
 * SECURITY DEFINER functions from here.
 */
export function withoutTenant<T>(db: Db, fn: (tx: Tx) => Promise<T>, options: ContextOptions = {}): Promise<T> {
  return runInContext(db, null, options, async (tx, role) => {
    await role;
    return fn(tx);
  });
}
