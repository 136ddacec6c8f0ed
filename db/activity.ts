import type { Db, Tx } from "./types.js";

/**
 * What a database is doing now, counted where requests reach it (`db/tenant.ts`'s transactions
 * and `db/reads.ts`'s one-statement reads), on both engines: the numbers `/metrics` reports as
 * the pool's in use / idle / waiting, and each transaction's duration.
 */
export interface DatabaseActivity {
  /** Connections the pool may open (PGlite: one). */
  poolSize: number;
  /** Transactions asked for whose first statement has not run yet (queued for a connection). */
  waiting: number;
  /** Transactions begun and not yet committed or rolled back: each holds a connection. */
  transactions: number;
  /** One-statement reads sent and not yet answered (queued or running). */
  reads: number;
  /** Each is called with every transaction's duration from BEGIN to its end, in seconds. */
  transactionListeners: Set<(seconds: number, committed: boolean) => void>;
}

const activities = new WeakMap<Db, DatabaseActivity>();

/** The activity counters of a database (made on first use; `connectPostgres` sets `poolSize`). */
export function activityOf(db: Db): DatabaseActivity {
  let activity = activities.get(db);
  if (!activity) {
    activity = { poolSize: 1, waiting: 0, transactions: 0, reads: 0, transactionListeners: new Set() };
    activities.set(db, activity);
  }
  return activity;
}

/** Drizzle's transaction on `db`, counted: waiting until its callback runs, then in use until it ends. */
export async function countedTransaction<T>(
  db: Db,
  fn: (tx: Tx) => Promise<T>,
  config?: Parameters<Db["transaction"]>[1],
): Promise<T> {
  const activity = activityOf(db);
  activity.waiting++;
  let begun = 0;
  let committed = false;
  try {
    const result = await db.transaction(async (tx) => {
      activity.waiting--;
      activity.transactions++;
      begun = performance.now();
      return fn(tx);
    }, config);
    committed = true;
    return result;
  } finally {
    if (begun === 0) activity.waiting--;
    else {
      activity.transactions--;
      const seconds = (performance.now() - begun) / 1000;
      for (const listener of activity.transactionListeners) listener(seconds, committed);
    }
  }
}
