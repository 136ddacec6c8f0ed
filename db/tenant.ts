import { sql } from "drizzle-orm";
import { countedTransaction } from "./activity.js";
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

/** A signed-in member, as their verified access token names them. */
export interface MemberContext {
  tenantId: string;
  userId: string;
  /** The token's session: the caller counts as a member only while it is live. */
  sessionId: string;
  /** The tenant slug the request names (X-Tenant, subdomain), checked against `tenantId`; or null. */
  tenantSlug: string | null;
  /** `statement_timeout` for the transaction, in milliseconds. */
  statementTimeoutMs: number;
  /**
   * For a workspace API key (then `userId` and `sessionId` are the key's id): the SHA-256 of the
   * secret the request carried, which `app.enter_member` compares with the stored one.
   */
  keyHash?: string | null;
}

export interface ContextOptions {
  /** `statement_timeout` for this transaction only, in milliseconds (default 5000). */
  statementTimeoutMs?: number;
  /**
   * Hold the caller's membership row (`FOR KEY SHARE`) until the transaction ends, so a removal
   * or demotion waits for this transaction's writes (default true;
   * docs/decisions/003-write-transactions-hold-the-membership.md).
   */
  lockMember?: boolean;
  /** `repeatable read`: every statement sees one snapshot (an export); default read committed. */
  isolation?: Isolation;
}

export type Isolation = "read committed" | "repeatable read";

/** `statement_timeout` of transactions that set none (5 s, also the runtime role's default). */
export const defaultStatementTimeoutMs = 5000;

/** `statement_timeout` of the background jobs' batches (erasure, pruning), which run on a pool of their own. */
export const jobStatementTimeoutMs = 60_000;

/** Thrown inside a transaction to roll it back without an error of its own (see `tenantProcedure`). */
export class Rollback extends Error {
  constructor() {
    super("rollback");
    this.name = "Rollback";
  }
}

/**
 * Sets (or replaces) the context inside an open transaction, returning the user's current role
 * (null: not a member). Auth flows call it: login before the user is known, registration to act
 * as the tenant it created.
 */
export async function enterTenant(
  tx: Tx,
  context: TenantContext | null,
  options: ContextOptions = {},
): Promise<MemberRole | null> {
  // One round trip: role switch, tenant, user and statement timeout, all transaction-local,
  // and the caller's current role read back under RLS.
  const timeout = options.statementTimeoutMs ?? defaultStatementTimeoutMs;
  const lock = options.lockMember ?? true;
  const result = await tx.execute(
    sql`select app.set_context(${context?.tenantId ?? null}::uuid, ${context?.userId ?? null}::uuid, ${timeout}::integer, ${context?.sessionId ?? null}::uuid, ${lock}::boolean) as role`,
  );
  return rowsOf<{ role: MemberRole | null }>(result)[0]?.role ?? null;
}

/**
 * The one way a member's request reaches tenant data: Drizzle's transaction, whose first
 * statement (`app.enter_member`) enters the tenant's context and raises unless the caller is a
 * member with a live session of the tenant the request names (SQLSTATE BH401 / BH403, mapped to
 * UNAUTHORIZED / FORBIDDEN). `fn` runs only after that answer, with the caller's current role:
 * no code of a procedure runs for a non-member. A read (`write: false`) is read-only from then
 * on; a write holds the caller's membership row until it commits. In a workspace that requires a
 * second factor, a member without one is refused (BH428) unless `enrolling`: the procedure sets
 * one up, or is one they need while doing so.
 *
 * @example
 * const rows = await withMember(db, member, { write: false }, (tx) => tx.select().from(projects));
 */
export function withMember<T>(
  db: Db,
  member: MemberContext,
  options: { write: boolean; verifiedOnly?: boolean; enrolling?: boolean; isolation?: Isolation },
  fn: (tx: Tx, role: MemberRole) => Promise<T>,
): Promise<T> {
  return countedTransaction(
    db,
    async (tx) => {
      const result = await tx.execute(
        sql`select app.enter_member(${member.tenantId}::uuid, ${member.userId}::uuid, ${member.statementTimeoutMs}::integer, ${member.sessionId}::uuid, ${member.tenantSlug}::text, ${options.write}::boolean, ${options.verifiedOnly ?? false}::boolean, ${member.keyHash ?? null}::text, ${options.enrolling ?? false}::boolean) as role`,
      );
      const role = rowsOf<{ role: MemberRole | null }>(result)[0]?.role;
      // enter_member raises for a non-member; a missing role would mean the function changed.
      if (!role) throw new Error("app.enter_member returned no role");
      return fn(tx, role);
    },
    isolationOf(options),
  );
}

const isolationOf = (options: { isolation?: Isolation }) =>
  options.isolation ? { isolationLevel: options.isolation } : undefined;

/**
 * Runs `fn` in a transaction scoped to one tenant: as `bulkhead_app`, with `app.tenant_id` and
 * `app.user_id` set transaction-locally, so RLS confines every statement to that tenant. `role`
 * is the user's current role in the tenant, or null when `userId` is not (or no longer) a
 * member. For the auth flows, which act before a member exists; members' requests go through
 * `withMember`.
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
  return countedTransaction(db, async (tx) => fn(tx, await enterTenant(tx, context, options)), isolationOf(options));
}

/**
 * Runs `fn` as `bulkhead_app` with no tenant: every tenant table reads as empty and refuses
 * writes. Tenant-less paths (registration, slug resolution, login throttling) call the narrow
 * SECURITY DEFINER functions from here.
 */
export function withoutTenant<T>(db: Db, fn: (tx: Tx) => Promise<T>, options: ContextOptions = {}): Promise<T> {
  return countedTransaction(db, async (tx) => {
    await enterTenant(tx, null, options);
    return fn(tx);
  });
}

/** The tenant a slug names, or null (through `app.tenant_id_for_slug`: no context needed). */
export async function tenantIdForSlug(tx: Tx, slug: string): Promise<string | null> {
  const result = await tx.execute(sql`select app.tenant_id_for_slug(${slug}) as id`);
  return rowsOf<{ id: string | null }>(result)[0]?.id ?? null;
}
