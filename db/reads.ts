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
 * How a result column is turned into its JavaScript value: as the driver gives it, or a
 * `timestamp` — milliseconds since the epoch, as the read functions return them — as a Date.
 */
type ColumnKind = "value" | "timestamp";

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
 * `argTypes` are the SQL types of the read's own arguments, in order; `columns` names the
 * result's columns, in the function's order, with how to decode each.
 *
 * @example
 * const readProject = readFunction<[id: string], Project>("read_project", ["uuid"],
 *   { id: "value", name: "value", ..., createdAt: "timestamp" });
 * const [project] = await readProject(db, context, id);
 */
export function readFunction<Args extends unknown[], Row>(
  name: string,
  argTypes: readonly string[],
  columns: { readonly [K in keyof Row]: ColumnKind },
): ReadFunction<Args, Row> {
  if (!namePattern.test(name) || !argTypes.every((type) => typePattern.test(type))) {
    throw new Error(`read function ${name}: bad name or argument type`);
  }
  const casts = ["uuid", "uuid", "integer", "uuid", "text", ...argTypes].map((type, i) => `$${i + 1}::${type}`);
  const text = `select * from app.${name}(${casts.join(", ")})`;
  const keys = Object.keys(columns) as (keyof Row & string)[];
  const timestamps = keys.map((key) => columns[key] === "timestamp");
  const toRow = (values: unknown[]): Row => {
    // A function whose columns drifted from `columns` must fail, never map values to wrong keys.
    if (values.length !== keys.length) throw new Error(`read function ${name}: ${values.length} columns returned`);
    const row: Record<string, unknown> = {};
    for (let c = 0; c < keys.length; c++) {
      const value = values[c];
      // Read functions send timestamps as epoch milliseconds (a number on both drivers).
      row[keys[c] as string] = timestamps[c] && value !== null ? new Date(value as number) : value;
    }
    return row as Row;
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
