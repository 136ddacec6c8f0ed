import { sql } from "drizzle-orm";
import { jobStatementTimeoutMs, withoutTenant } from "./tenant.js";
import { type Db, rowsOf } from "./types.js";

export interface PruneOptions {
  /** The longest throttle window (login, sign-up): counters older than this are over. */
  throttleWindowSeconds: number;
  /** Audit events older than this many days go too (AUDIT_RETENTION_DAYS); absent: kept forever. */
  auditRetentionDays?: number | null;
  /** Events older than this many days go too (EVENT_RETENTION_DAYS); absent: kept forever. */
  eventRetentionDays?: number | null;
  /** Rows per table per transaction (default 5,000), so no transaction holds locks for long. */
  batch?: number;
  /** Upper bound on transactions in one run (default 200); the next run goes on from there. */
  maxBatches?: number;
}

/**
 * Deletes expired refresh tokens, expired invitations, finished throttle windows and old
 * audit and change events, in short
 * transactions of `batch` rows per table, until none are left or `maxBatches` ran. Runs through
 * `app.prune_expired` as the runtime role, with no tenant: the function acts as the owner role,
 * which the expired-rows policies let delete nothing but expired rows. When another process is
 * pruning at the same moment, this run stops at once and leaves the work to it.
 *
 * @returns how many transactions ran; whether everything expired is gone; and `busy` when
 * another process held the pruning lock, so this run stopped without pruning (then `complete`
 * is false: that process is doing the work).
 */
export async function pruneExpired(
  db: Db,
  options: PruneOptions,
): Promise<{ batches: number; complete: boolean; busy: boolean }> {
  const batch = options.batch ?? 5000;
  const maxBatches = options.maxBatches ?? 200;
  for (let batches = 1; batches <= maxBatches; batches++) {
    // true: a table had more; false: nothing left; null: another caller holds the lock.
    const more = await withoutTenant(
      db,
      async (tx) =>
        rowsOf<{ more: boolean | null }>(
          await tx.execute(
            sql`select app.prune_expired(${batch}::integer, ${options.throttleWindowSeconds}::integer, ${options.auditRetentionDays ?? null}::integer, ${options.eventRetentionDays ?? null}::integer) as more`,
          ),
        )[0]?.more ?? null,
      { statementTimeoutMs: jobStatementTimeoutMs },
    );
    if (more === null) return { batches, complete: false, busy: true };
    if (!more) return { batches, complete: true, busy: false };
  }
  return { batches: maxBatches, complete: false, busy: false };
}
