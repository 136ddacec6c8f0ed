import { drizzle } from "drizzle-orm/postgres-js";
import type { PendingQuery, ReservedSql, Sql } from "postgres";
import type { MemberRole } from "./schema.js";
import { usesStatementCache, withStatementCache } from "./statement-cache.js";
import type { Db, Tx } from "./types.js";

/** The postgres.js client under a drizzle database, when it is one (PGlite's is not). */
export function postgresClientOf(db: Db): Sql | null {
  const client = (db as { $client?: unknown }).$client;
  return typeof client === "function" && "reserve" in client ? (client as Sql) : null;
}

/**
 * A tenant transaction on postgres.js in as few round trips as the driver allows. On one
 * reserved connection, BEGIN, the context statement and the procedure's first statement leave in
 * the same write (postgres.js pipelines queries issued in one tick), so a one-query procedure
 * costs two round trips — its statements and COMMIT — instead of four. The context's result (the
 * caller's role) arrives as a promise the caller must check before it trusts anything the
 * procedure produced; a rejected context fails every later statement, so nothing runs without it.
 * If the connection drops midway, PostgreSQL rolls the transaction back; nothing runs outside it.
 */
export async function pipelinedTransaction<T>(
  client: Sql,
  readOnly: boolean,
  contextStatement: (sql: Sql) => PendingQuery<{ role: MemberRole | null }[]>,
  fn: (tx: Tx, role: Promise<MemberRole | null>) => Promise<T>,
): Promise<T> {
  const reserved: ReservedSql = await client.reserve();
  // drizzle reads the parser settings from the client; a reserved connection shares its pool's.
  Object.assign(reserved, { options: client.options });
  const sql = (usesStatementCache(client) ? withStatementCache(reserved) : reserved) as Sql;
  let open = true;
  try {
    // Tagged templates, so postgres.js keeps them as named statements on the connection.
    const started = (readOnly ? reserved`begin read only` : reserved`begin`).execute();
    const context = contextStatement(sql).execute();
    const role = Promise.all([started, context]).then(([, rows]) => rows[0]?.role ?? null);
    role.catch(() => undefined); // observed below; never an unhandled rejection
    // Without the relational schema: building it costs ~77 µs a request, and procedures use the
    // query builder only (select/insert/update/delete/execute).
    const tx = drizzle(sql) as unknown as Tx;
    let result: T;
    try {
      result = await fn(tx, role);
    } catch (error) {
      // A failed context explains every statement after it: report that, not their 25P02s.
      await role;
      throw error;
    }
    await role;
    open = false;
    if (readOnly) {
      // Nothing to make durable: answer now. COMMIT still goes first on this connection, ahead
      // of anything its next user sends, so releasing it at once is safe.
      reserved`commit`.execute().catch(() => undefined);
    } else {
      await reserved`commit`;
    }
    return result;
  } catch (error) {
    if (open) await reserved`rollback`.catch(() => undefined);
    throw error;
  } finally {
    reserved.release();
  }
}
