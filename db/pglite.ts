import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import * as schema from "./schema.js";
import type { Database } from "./types.js";

export interface PgliteOptions {
  /** A directory to persist to, `memory://` for a throwaway database, or omitted (memory). */
  dataDir?: string;
  /** A tarball from `dumpDataDir()` to start from (tests use it to skip migrations). */
  loadDataDir?: Blob | File;
}

/** Wraps an already open PGlite (the test helper clones one per file). */
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

/**
 * The data directory of `client` as a tarball to start copies from (`loadDataDir`), made quick
 * to start (BENCHMARKS.md, P4). Copies get 16 MB of shared buffers instead of PGlite's 128 MB:
 * starting PostgreSQL zeroes all of them in fresh WebAssembly memory, which was most of a copy's
 * start (~0.7 s -> ~0.3 s here), and a test database never holds more than a few MB. The
 * template databases go — `template0` and `template1` (7.5 MB and ~300 files each) only ever
 * serve as sources of `CREATE DATABASE`, which nothing here runs; the app's database is
 * `postgres` — and a checkpoint comes first, so a copy starts without WAL to replay. Closes
 * `client`.
 */
export async function dumpForCopies(client: PGlite): Promise<Blob> {
  // Written to postgresql.auto.conf, inside the dump: read when a copy starts.
  await client.exec("alter system set shared_buffers = '16MB'");
  // One statement each: DROP DATABASE refuses to run inside a multi-statement (implicit) transaction.
  await client.exec(
    "update pg_database set datistemplate = false, datallowconn = false where datname in ('template0', 'template1')",
  );
  await client.exec("drop database template0");
  await client.exec("drop database template1");
  await client.exec("checkpoint");
  const dump = await client.dumpDataDir("none");
  await client.close();
  return dump;
}
