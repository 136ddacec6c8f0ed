import { Column, fillPlaceholders, is } from "drizzle-orm";
import type { Sql } from "postgres";
import type { Db, Tx } from "./types.js";

interface Executable<TResult> {
  execute(values?: Record<string, unknown>): Promise<TResult>;
}

interface Preparable<TResult> {
  prepare(name: string): Executable<TResult>;
}

/** What drizzle's postgres.js prepared query holds once built (read, never changed). */
interface BuiltQuery {
  queryString: string;
  params: unknown[];
  fields?: { path: string[]; field: unknown }[];
  customResultMapper?: unknown;
}

type Decoder = ((value: unknown) => unknown) | null;

/**
 * A hot query whose SQL drizzle builds once, not per call. Building a query costs more than
 * PostgreSQL takes to run an indexed one (the P1 benchmark lost ~40% to it), so hot paths use
 * `sql.placeholder(...)` and this helper. On postgres.js the query is built on the first call
 * and compiled: later calls send its SQL as a named statement on their own transaction's
 * connection and map the rows with decoders chosen once per column, instead of drizzle's
 * per-row, per-column type checks (see `compile`). On PGlite (whose transactions are drizzle's
 * own) it is built per call, as any query. Results are the same as drizzle's, value for value.
 *
 * @example
 * const byId = preparedQuery("project_by_id", (db) =>
 *   db.select().from(projects).where(eq(projects.id, sql.placeholder("id"))));
 * const rows = await byId(tx, { id });
 */
export function preparedQuery<TResult>(name: string, build: (db: Db) => Preparable<TResult>) {
  let run: ((client: Sql, values: Record<string, unknown>) => Promise<TResult>) | undefined;
  return (tx: Tx, values: Record<string, unknown>): Promise<TResult> => {
    const client = (tx as { $client?: unknown }).$client;
    if (typeof client !== "function" || !("reserve" in client || "release" in client)) {
      return build(tx).prepare(name).execute(values);
    }
    run ??= compile(build(tx).prepare(name));
    return run(client as Sql, values);
  };
}

function compile<TResult>(prepared: Executable<TResult>) {
  const built = prepared as unknown as BuiltQuery;
  const fields = built.fields;
  const simple =
    fields !== undefined &&
    built.customResultMapper === undefined &&
    fields.every((f) => f.path.length === 1 && is(f.field, Column));
  if (!simple) {
    // Nested selections (joins) or SQL fields: drizzle's own mapping, on this call's connection.
    return (client: Sql, values: Record<string, unknown>) => {
      const bound = Object.create(prepared) as Executable<TResult> & { client: unknown };
      bound.client = client;
      return bound.execute(values);
    };
  }
  const keys = fields.map((f) => f.path[0] as string);
  const decoders = fields.map((f) => decoderFor(f.field as Column));
  const width = keys.length;
  return async (client: Sql, values: Record<string, unknown>) => {
    const params = fillPlaceholders(built.params, values) as never[];
    // `prepare: true` asks for a named statement; a client opened with `prepare: false` (behind
    // PgBouncer) overrides it, as postgres.js gives the client's setting the last word.
    const rows = (await client.unsafe(built.queryString, params, { prepare: true }).values()) as unknown[][];
    const mapped = new Array(rows.length);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r] as unknown[];
      const out: Record<string, unknown> = {};
      for (let c = 0; c < width; c++) {
        const value = row[c];
        const decode = decoders[c];
        out[keys[c] as string] = value === null || !decode ? value : decode(value);
      }
      mapped[r] = out;
    }
    return mapped as TResult;
  };
}

/** The column's own decoder, or null when it returns the driver's value unchanged. */
function decoderFor(column: Column): Decoder {
  if (column.mapFromDriverValue === Column.prototype.mapFromDriverValue) return null;
  return (value) => column.mapFromDriverValue(value);
}
