/**
 * Migrates once per run: a PGlite data directory dumped to a file (each test file loads a copy),
 * or a PostgreSQL template database (each test file gets `CREATE DATABASE ... TEMPLATE`).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { migratePgliteDb, migratePostgresUrl } from "../db/migrate.js";
import { adminUrl, testEngine, urlFor } from "./helpers/engine.js";
import { connectCopySource, dumpForCopies } from "./helpers/pglite-copies.js";
import { applyMutationFromEnv } from "./mutations/defences.js";

declare module "vitest" {
  export interface ProvidedContext {
    pgliteDump: string;
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
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
