import type { Db, Tx } from "./types.js";

interface Executable<TResult> {
  execute(values?: Record<string, unknown>): Promise<TResult>;
}

interface Preparable<TResult> {
  prepare(name: string): Executable<TResult>;
}

/**
 * A hot query whose SQL drizzle builds once, not per call. Building a query costs more than
 * PostgreSQL takes to run an indexed one (the P1 benchmark lost ~40% to it), so hot paths use
 * `sql.placeholder(...)` and this helper. On postgres.js the template is built on the first
 * transaction and each later call runs a copy bound to its own transaction's connection; on
 * PGlite (whose transactions are drizzle's own) it is built per call, as any query.
 *
 * @example
 * const byId = preparedQuery("project_by_id", (db) =>
 *   db.select().from(projects).where(eq(projects.id, sql.placeholder("id"))));
 * const rows = await byId(tx, { id });
 */
export function preparedQuery<TResult>(name: string, build: (db: Db) => Preparable<TResult>) {
  let template: Executable<TResult> | undefined;
  return (tx: Tx, values: Record<string, unknown>): Promise<TResult> => {
    const client = (tx as { $client?: unknown }).$client;
    if (typeof client !== "function" || !("reserve" in client || "release" in client)) {
      return build(tx).prepare(name).execute(values);
    }
    template ??= build(tx).prepare(name);
    // drizzle's postgres.js prepared query reads its connection from `this.client` when it
    // executes; a prototype copy with its own `client` shares the built SQL and field mapping.
    const bound = Object.create(template) as Executable<TResult> & { client: unknown };
    bound.client = client;
    return bound.execute(values);
  };
}
