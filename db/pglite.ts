import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import * as schema from "./schema.js";
import type { Database } from "./types.js";

export interface PgliteOptions {
  /** A directory to persist to, `memory://` for a throwaway database, or omitted (memory). */
  dataDir?: string;
  /** A data directory tarball to start from (the tests' copies start from a migrated one). */
  loadDataDir?: Blob | File;
}

/** Wraps an already open PGlite (the tests open a copy per file). */
export function fromPglite(client: PGlite): Database {
  return {
    db: drizzle(client, { schema }),
    engine: "pglite",
    close: () => client.close(),
  };
}

/**
 * Opens embedded PostgreSQL. PGlite connects as a superuser, so RLS applies only because every
 * request transaction switches to `bulkhead_app` (`app.set_context`).
 */
export async function connectPglite(options: PgliteOptions = {}): Promise<Database & { client: PGlite }> {
  const client = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
  });
  return { ...fromPglite(client), client };
}
