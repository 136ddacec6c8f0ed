import { fork } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import * as schema from "./schema.js";
import { openFileSpool } from "./spool.js";
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
    spool: openFileSpool,
    listen: (channel, onNotify) => client.listen(channel, onNotify),
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
    // PostgreSQL's 128 MB of shared buffers live in PGlite's WebAssembly memory, which never
    // shrinks: 8 MB hold a small workspace's working set (decision 015).
    startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${sharedBuffers}`],
  });
  return { ...fromPglite(client), client };
}

const sharedBuffers = "8MB";

/**
 * Makes sure `dataDir` holds a migrated database, creating it in a child process when it does
 * not: initdb grows PGlite's WebAssembly memory to ~700 MB, and WebAssembly memory is never
 * given back, so done in this process it would stay its footprint (decision 015).
 */
export async function prepareDataDir(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, "PG_VERSION"))) return;
  const here = fileURLToPath(import.meta.url);
  const child = fork(join(dirname(here), `pglite-init${extname(here)}`), [dataDir], { stdio: "inherit" });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`creating the PGlite database in ${dataDir} failed (exit code ${code})`);
}
