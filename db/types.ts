import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import type * as schema from "./schema.js";

export type Schema = typeof schema;

/** A drizzle database on either engine (postgres.js or PGlite). */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

/** A drizzle transaction on either engine; inside `withTenant` it carries the tenant context. */
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;

export type Engine = "pglite" | "postgres";

/** An open database: the drizzle handle, which engine serves it, and how to close it. */
export interface Database {
  readonly db: Db;
  readonly engine: Engine;
  /**
   * An engine with one connection (PGlite) opens a spool of at most `maxBytes` for a long read,
   * so the connection is not held while a client reads at its own pace (db/spool.ts).
   */
  readonly spool?: (maxBytes: number) => Promise<Spool>;
  /**
   * Calls `onNotify` with the payload of each notification on `channel` (PostgreSQL's LISTEN, or
   * PGlite's own) until the returned function stops it. Absent where a runtime cannot keep a
   * connection open between requests (Workers): there, live streams only poll.
   */
  readonly listen?: (channel: string, onNotify: (payload: string) => void) => Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * The rows of a raw `execute()`: postgres.js returns an array, PGlite `{ rows }`.
 */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  if (result && typeof result === "object" && "rows" in result && Array.isArray(result.rows)) {
    return result.rows as T[];
  }
  return [];
}

/** A bounded, private place for a long read's output (`db/spool.ts` is the file-backed one). */
export interface Spool {
  /** Appends `text`; throws `SpoolFull` once the spool would pass its bound. */
  write(text: string): Promise<void>;
  /** What was written, from the start, in chunks of at most 64 KiB. */
  chunks(): AsyncGenerator<Uint8Array>;
  close(): Promise<void>;
}

export class SpoolFull extends Error {
  constructor(readonly maxBytes: number) {
    super(`the spool holds at most ${maxBytes} bytes`);
    this.name = "SpoolFull";
  }
}
