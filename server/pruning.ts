import { eraseDueTenants } from "../db/erase.js";
import { pruneExpired } from "../db/prune.js";
import type { Database } from "../db/types.js";
import type { Logger } from "./deps.js";
import { loggedError } from "./errors.js";

/**
 * Prunes expired rows (`pruneExpired`) now and then, for as long as the server runs: first after
 * `firstDelayMs`, then every `intervalMs`. Runs never overlap, failures are logged and retried
 * at the next run, and the timer never keeps the process alive. Returns `stop()`, which waits
 * for a run in progress.
 */
export function startPruning(options: {
  database: Database;
  /** See `longestThrottleWindowSeconds`. */
  throttleWindowSeconds: number;
  /** AUDIT_RETENTION_DAYS (null: audit events are kept). */
  auditRetentionDays: number | null;
  /** EVENT_RETENTION_DAYS. */
  eventRetentionDays: number;
  /** TENANT_SLUG_RESERVED_DAYS, for the tombstones of erased workspaces. */
  slugReservedDays: number;
  logger: Logger;
  intervalMs: number;
  firstDelayMs?: number;
}): { stop(): Promise<void> } {
  const {
    database,
    throttleWindowSeconds,
    auditRetentionDays,
    eventRetentionDays,
    slugReservedDays,
    logger,
    intervalMs,
  } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const run = async () => {
    const started = Date.now();
    try {
      const result = await pruneExpired(database.db, {
        throttleWindowSeconds,
        auditRetentionDays,
        eventRetentionDays,
      });
      logger.info("pruned expired rows", { ...result, ms: Date.now() - started });
    } catch (error) {
      logger.error("pruning expired rows failed; retrying at the next run", { ...loggedError(error) });
    }
    // Workspaces whose deletion is due: erased batch by batch; a run cut short resumes next time.
    try {
      const erasing = Date.now();
      const result = await eraseDueTenants(database.db, { slugReservedDays });
      if (result.batches > 0)
        logger.info("erased workspaces due for deletion", { ...result, ms: Date.now() - erasing });
    } catch (error) {
      logger.error("erasing workspaces failed; resuming at the next run", { ...loggedError(error) });
    }
  };
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        schedule(intervalMs);
      });
    }, delay);
    timer.unref?.();
  };
  schedule(options.firstDelayMs ?? intervalMs);

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
