import type { PGlite } from "@electric-sql/pglite";
import { postgresClientOf } from "./pipelined.js";
import type { Db } from "./types.js";

/**
 * Who a one-statement read acts for: a signed-in member (their token's tenant, user and
 * session) and the tenant the request names, if it names one. Every field but `tenantSlug` is
 * required: a read function refuses to run without a member and a live session.
 */
export interface ReadContext {
  tenantId: string;
  userId: string;
  sessionId: string;
  /** The tenant slug the request names (X-Tenant, subdomain); checked against `tenantId`. */
  tenantSlug: string | null;
  statementTimeoutMs: number;
}

/**
 * How a read function's result row becomes a JavaScript row: `columns` is how many columns the
 * SQL function returns, `row` builds the row from their values, in the function's order — an
 * object literal, so every row of a read has one shape (a loop over column names made each
 * store a lookup: ~2x slower for a page of 50). Timestamps arrive as epoch milliseconds:
 * `epochDate` turns them into Dates.
 */
export interface RowDecoder<Row> {
  columns: number;
  row: (values: unknown[]) => Row;
}

/** A timestamp as read functions send it — milliseconds since the epoch — as a Date. */
export const epochDate = (value: unknown): Date => new Date(value as number);

/** A one-statement read: runs `app.<name>` for the context with the read's own arguments. */
export type ReadFunction<Args extends unknown[], Row> = (db: Db, context: ReadContext, ...args: Args) => Promise<Row[]>;

/** Runs read functions for one request's context: `read(fn, ...args)`. */
export type Reader = <Args extends unknown[], Row>(fn: ReadFunction<Args, Row>, ...args: Args) => Promise<Row[]>;

/** The reader of `context` on `db`. */
export function readerFor(db: Db, context: ReadContext): Reader {
  return (fn, ...args) => fn(db, context, ...args);
}

const namePattern = /^read_[a-z_]+$/;
const typePattern = /^[a-z ]+$/;

/**
 * A read that runs as one prepared statement: the SQL function `app.<name>` (see migration
 * 0006) enters the tenant context with `app.enter_read` — the same `app.set_context` as every
 * transaction, transaction-local to this statement — refuses a caller who is not a live member
 * (SQLSTATE BH401) or a request that names another tenant (BH403), and only then runs its query,
 * under FORCE RLS as the runtime role. No connection is reserved and there is no BEGIN or COMMIT:
 * a read costs one message and one answer, where a tenant transaction costs three statements
 * (BENCHMARKS.md, P1 and P2). The context's arguments come first and are always filled from the
 * `ReadContext`, so a read cannot be called without them.
 *
 * `argTypes` are the SQL types of the read's own arguments, in order; `decoder` turns each
 * result row into the read's row.
 *
 * @example
 * const readProject = readFunction<[id: string], Project>("read_project", ["uuid"], {
 *   columns: 6,
 *   row: (v) => ({ id: v[0] as string, ..., createdAt: epochDate(v[4]), updatedAt: epochDate(v[5]) }),
 * });
 * const [project] = await readProject(db, context, id);
 */
export function readFunction<Args extends unknown[], Row>(
  name: string,
  argTypes: readonly string[],
  decoder: RowDecoder<Row>,
): ReadFunction<Args, Row> {
  if (!namePattern.test(name) || !argTypes.every((type) => typePattern.test(type))) {
    throw new Error(`read function ${name}: bad name or argument type`);
  }
  const casts = ["uuid", "uuid", "integer", "uuid", "text", ...argTypes].map((type, i) => `$${i + 1}::${type}`);
  const text = `select * from app.${name}(${casts.join(", ")})`;
  const { columns, row } = decoder;
  const toRow = (values: unknown[]): Row => {
    // A function whose columns drifted from the decoder's must fail, never map values to wrong keys.
    if (values.length !== columns) throw new Error(`read function ${name}: ${values.length} columns returned`);
    return row(values);
  };

  return async (db, context, ...args) => {
    const params = [
      context.tenantId,
      context.userId,
      context.statementTimeoutMs,
      context.sessionId,
      context.tenantSlug,
      ...args,
    ];
    const client = postgresClientOf(db);
    if (client) {
      // `prepare: true` asks for a named statement; a client opened with `prepare: false`
      // (behind PgBouncer) keeps the last word, as everywhere.
      const rows = (await client.unsafe(text, params as never[], { prepare: true }).values()) as unknown[][];
      return rows.map(toRow);
    }
    // PGlite: one connection, and `query` waits for any open transaction to finish, so the
    // statement can never run inside another request's context.
    const pglite = (db as unknown as { $client: PGlite }).$client;
    const result = await pglite.query<unknown[]>(text, params, { rowMode: "array" });
    return result.rows.map(toRow);
  };
}
