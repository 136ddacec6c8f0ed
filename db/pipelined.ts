import { drizzle } from "drizzle-orm/postgres-js";
import type { ReservedSql, Sql } from "postgres";
import type { MemberRole } from "./schema.js";
import { usesStatementCache, withStatementCache } from "./statement-cache.js";
import type { Db, Tx } from "./types.js";

/** The postgres.js client under a drizzle database, when it is one (PGlite's is not). */
export function postgresClientOf(db: Db): Sql | null {
  const client = (db as { $client?: unknown }).$client;
  return typeof client === "function" && "reserve" in client ? (client as Sql) : null;
}

/** Who the transaction acts for, and its statement timeout (see `app.set_context`). */
export interface PipelinedContext {
  tenantId: string | null;
  userId: string | null;
  /** The caller's session (their token's `sid`); null only where a session is being started. */
  sessionId: string | null;
  statementTimeoutMs: number;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A uuid (or null) as an SQL literal; anything else is refused, so nothing else is ever inlined. */
function uuidLiteral(value: string | null): string {
  if (value === null) return "null::uuid";
  if (!uuidPattern.test(value)) throw new Error("tenant context: not a uuid");
  return `'${value}'::uuid`;
}

/**
 * BEGIN and the context statement as one simple-protocol query: one message, one result to
 * parse. Each statement postgres.js handles costs ~40–90 µs of Node CPU here (P1), more than
 * PostgreSQL spends running it, and this pair runs on every request. Simple queries cannot carry
 * bind parameters, so the values are inlined — and only values that cannot be anything but
 * themselves: uuids checked against the strict pattern above and a safe integer.
 */
export function beginWithContext(readOnly: boolean, context: PipelinedContext): string {
  const timeout = context.statementTimeoutMs;
  if (!Number.isSafeInteger(timeout) || timeout < 0) throw new Error("tenant context: bad statement timeout");
  return `${readOnly ? "begin read only" : "begin"}; select app.set_context(${uuidLiteral(context.tenantId)}, ${uuidLiteral(context.userId)}, ${timeout}, ${uuidLiteral(context.sessionId)}, ${readOnly ? "false" : "true"}) as role`;
}

/**
 * A tenant transaction on postgres.js in as few round trips as the driver allows. On one
 * reserved connection, BEGIN with the context statement (one simple query, see
 * `beginWithContext`) and the procedure's first statement leave in the same write (postgres.js
 * pipelines queries issued in one tick), so a one-query procedure costs two round trips — its
 * statements and COMMIT — instead of four. The context's result (the caller's role) arrives as
 * a promise the caller must check before it trusts anything the procedure produced; a rejected
 * context fails every later statement, so nothing runs without it. If the connection drops
 * midway, PostgreSQL rolls the transaction back; nothing runs outside it.
 */
export async function pipelinedTransaction<T>(
  client: Sql,
  readOnly: boolean,
  context: PipelinedContext,
  fn: (tx: Tx, role: Promise<MemberRole | null>) => Promise<T>,
): Promise<T> {
  const opening = beginWithContext(readOnly, context); // throws before anything is sent
  const reserved: ReservedSql = await client.reserve();
  // drizzle reads the parser settings from the client; a reserved connection shares its pool's.
  Object.assign(reserved, { options: client.options });
  const sql = (usesStatementCache(client) ? withStatementCache(reserved) : reserved) as Sql;
  let open = true;
  try {
    const role = reserved
      .unsafe(opening)
      .execute()
      .then((results) => {
        // One result per statement: BEGIN's, then the context's single row.
        const rows = (results as unknown as { role: MemberRole | null }[][])[1];
        return rows?.[0]?.role ?? null;
      });
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
    // Awaited, reads too: released with its COMMIT still in flight, the connection could carry
    // the next user's statement behind it, and PgBouncer in transaction mode hands the server to
    // another client at COMMIT's answer, so that statement's reply was lost and its client hung
    // (found by tests/fuzz/inputs.test.ts; docs/decisions/005-reads-wait-for-their-commit.md).
    await reserved`commit`;
    return result;
  } catch (error) {
    if (open) await reserved`rollback`.catch(() => undefined);
    throw error;
  } finally {
    reserved.release();
  }
}
