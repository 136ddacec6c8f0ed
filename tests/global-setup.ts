/**
 * Migrates once per run: a PGlite data directory dumped to a file (each test file loads a copy),
 * or a PostgreSQL template database (each test file gets `CREATE DATABASE ... TEMPLATE`).
 * The PGlite dump is kept between runs under node_modules/.cache, keyed by a hash of everything
 * that shapes it (the migrations, the function files, PGlite's version): a fresh PGlite's
 * initdb alone took ~6 s here, before any test could start. A mutation run never uses it.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { migratePgliteDb, migratePostgresUrl } from "../db/migrate.js";
import { adminUrl, citusUrl, testEngine, urlFor } from "./helpers/engine.js";
import { connectCopySource, dumpForCopies } from "./helpers/pglite-copies.js";
import { applyMutationFromEnv } from "./mutations/defences.js";

declare module "vitest" {
  export interface ProvidedContext {
    pgliteDump: string;
    templateDatabase: string;
  }
}

const root = fileURLToPath(new URL("..", import.meta.url));

/** A hash of what the migrated PGlite depends on: migrations, function files, PGlite's version. */
function pgliteDumpKey(): string {
  const hash = createHash("sha256");
  for (const folder of ["drizzle", "drizzle/meta", "db/sql/functions"]) {
    for (const file of readdirSync(join(root, folder)).sort()) {
      if (!/\.(sql|json)$/.test(file)) continue;
      hash
        .update(`${folder}/${file}\0`)
        .update(readFileSync(join(root, folder, file)))
        .update("\0");
    }
  }
  hash.update(readFileSync(join(root, "node_modules/@electric-sql/pglite/package.json")));
  return hash.digest("hex").slice(0, 32);
}

export default async function setup(project: TestProject) {
  if (testEngine === "pglite" && !process.env.BULKHEAD_MUTATION) {
    const cacheDir = join(root, "node_modules/.cache/bulkhead-tests");
    const cached = join(cacheDir, `pglite-${pgliteDumpKey()}.tar`);
    if (!existsSync(cached)) {
      const database = await connectCopySource();
      await migratePgliteDb(database.db);
      const dump = await dumpForCopies(database.client); // closes it
      await mkdir(cacheDir, { recursive: true });
      const partial = `${cached}.${process.pid}`;
      await writeFile(partial, dump);
      await rename(partial, cached); // whole or not at all, for a run starting meanwhile
    }
    project.provide("pgliteDump", cached);
    project.provide("templateDatabase", "");
    return;
  }
  if (testEngine === "pglite") {
    const dir = await mkdtemp(join(tmpdir(), "bulkhead-test-"));
    const database = await connectCopySource();
    await migratePgliteDb(database.db);
    await applyMutationFromEnv(database.db);
    const dump = await dumpForCopies(database.client);
    const file = join(dir, "migrated.tar");
    await writeFile(file, dump);
    project.provide("pgliteDump", file);
    project.provide("templateDatabase", "");
    return async () => {
      await rm(dir, { recursive: true, force: true });
    };
  }

  if (citusUrl) {
    // The cluster's one database, migrated (and distributed) by the same path as production.
    await migratePostgresUrl(citusUrl);
    project.provide("pgliteDump", "");
    project.provide("templateDatabase", "");
    return;
  }

  const template = `bulkhead_tpl_${process.pid}_${Date.now()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${template}`);
  } finally {
    await admin.end();
  }
  await migratePostgresUrl(urlFor(template));
  if (process.env.BULKHEAD_MUTATION) {
    const client = postgres(urlFor(template), { max: 1, onnotice: () => {} });
    try {
      await applyMutationFromEnv(drizzle(client));
    } finally {
      await client.end();
    }
  }
  project.provide("pgliteDump", "");
  project.provide("templateDatabase", template);
  return async () => {
    const client = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      await client.unsafe(`drop database if exists ${template} with (force)`);
    } finally {
      await client.end();
    }
  };
}
