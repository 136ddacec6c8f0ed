import { sql } from "drizzle-orm";
import { jobStatementTimeoutMs, withoutTenant } from "./tenant.js";
import { type Db, rowsOf } from "./types.js";

/**
 * Tenant tables `app.erase_tenant_batch` leaves to a cascade from their parent row (the tenant's,
 * or a user's), each with why that is few rows. Every other table with a `tenant_id` column must
 * be erased in batches by the function: `tests/tenant-coverage.test.ts` names one that is neither.
 */
export const erasedWithTheirParent: Record<string, string> = {
  invitations: "with the tenant: at most 1,000 pending per workspace (a quota)",
  outbox: "with the tenant: messages in flight, their bodies erased once sent",
  tenant_limits: "with the tenant: one row",
  tenant_usage: "with the tenant: one row per counter",
  event_sequences: "with the tenant: one row",
  webhooks: "with the tenant: a workspace's endpoints, a handful",
  api_keys: "with the tenant: a workspace's keys, a handful",
  api_key_usage: "with their key: one row each",
  webhook_deliveries: "with their event: at most one per endpoint for each, erased in batches of events",
  refresh_tokens: "with their user: a handful of sessions each, erased in batches of users",
  password_resets: "with their user: a few single-use tokens each",
  verifications: "with their user: a few single-use tokens each",
  mfa_challenges: "with their user: a few single-use challenges each, minutes long",
  totp_factors: "with their user: one row each",
  recovery_codes: "with their user: ten each",
  passkeys: "with their user: a few each",
};

export interface EraseOptions {
  /** Rows per transaction (default 2,000): each batch is short, and holds few locks. */
  batch?: number;
  /** Upper bound on transactions in one run (default 2,000); the next run goes on from there. */
  maxBatches?: number;
  /** Days an erased workspace's slug stays reserved (TENANT_SLUG_RESERVED_DAYS). */
  slugReservedDays: number;
  /** Called after each batch with the tenant and the rows it deleted (progress for a CLI). */
  onBatch?: (tenantId: string, deleted: number) => void;
}

export interface EraseResult {
  /** Workspaces erased to their tombstone in this run. */
  erased: string[];
  batches: number;
  /** False when the run stopped at `maxBatches` with work left (the next run resumes). */
  complete: boolean;
}

/**
 * Erases every workspace whose deletion is due, batch by batch, each batch its own transaction
 * through `app.erase_tenant_batch` (the owner role, in that workspace's context): children
 * before parents, then the tenant row, leaving a tombstone. Interrupted anywhere — a stopped
 * server, `maxBatches` — the next run picks the workspace up where it stopped.
 */
export async function eraseDueTenants(db: Db, options: EraseOptions): Promise<EraseResult> {
  const batch = options.batch ?? 2000;
  const maxBatches = options.maxBatches ?? 2000;
  const erased: string[] = [];
  // Due a moment ago but not any more (a cancellation won the race): left alone in this run.
  const skipped = new Set<string>();
  let batches = 0;
  for (;;) {
    const due = (
      await withoutTenant(db, async (tx) =>
        rowsOf<{ id: string }>(await tx.execute(sql`select id from app.tenants_due_for_erasure(100) as id`)),
      )
    ).filter(({ id }) => !skipped.has(id));
    if (due.length === 0) return { erased, batches, complete: true };
    for (const { id } of due) {
      for (;;) {
        if (batches >= maxBatches) return { erased, batches, complete: false };
        batches++;
        const deleted = await withoutTenant(
          db,
          async (tx) =>
            rowsOf<{ deleted: number | null }>(
              await tx.execute(
                sql`select app.erase_tenant_batch(${id}::uuid, ${batch}::integer, ${options.slugReservedDays}::integer) as deleted`,
              ),
            )[0]?.deleted ?? null,
          { statementTimeoutMs: jobStatementTimeoutMs },
        );
        options.onBatch?.(id, deleted ?? 0);
        // Let waiting requests in between batches (PGlite's one connection serves them in turn).
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (deleted === null) skipped.add(id);
        if (deleted === 0) erased.push(id);
        if (!deleted) break;
      }
    }
  }
}
