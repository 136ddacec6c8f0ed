import { readFile } from "node:fs/promises";
import { threadId } from "node:worker_threads";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { inject } from "vitest";
import { fromPglite } from "../../db/pglite.js";
import { connectPostgres, type PostgresOptions } from "../../db/postgres.js";
import * as schema from "../../db/schema.js";
import type { Database, Db } from "../../db/types.js";
import { databaseUrl } from "../../db/url.js";
import { adminUrl, citusUrl, testEngine, urlFor } from "./engine.js";
import { openCopy } from "./pglite-copies.js";

export interface TestDatabase {
  /** The runtime connection the app uses: `bulkhead_app` on PostgreSQL, the superuser on PGlite. */
  database: Database;
  /**
   * A superuser connection to the same database, for setting up attacks and inspecting the
   * catalogue. Superusers bypass RLS: never hand this to the app.
   */
  admin: Db;
  engine: "pglite" | "postgres";
  /** PostgreSQL only: the runtime role's URL for this database (to start a real server on it). */
  url: string | null;
  close(): Promise<void>;
}

let counter = 0;

const dumps = new Map<string, Promise<Uint8Array>>();

/**
 * PGlite only: the migrated data directory global-setup dumped once for the whole run, read once
 * per worker (files share a worker's modules).
 */
export function migratedPgliteDump(): Promise<Uint8Array> {
  const file = inject("pgliteDump");
  let dump = dumps.get(file);
  if (!dump) {
    dump = readFile(file).then((bytes) => new Uint8Array(bytes));
    dumps.set(file, dump);
  }
  return dump;
}

/** A fresh, migrated database for one test file. */
export async function openTestDatabase(
  options: Pick<PostgresOptions, "poolMax" | "prepare" | "onQuery"> = {},
): Promise<TestDatabase> {
  if (testEngine === "pglite") {
    const client = await openCopy(await migratedPgliteDump());
    const database = fromPglite(client);
    return { database, admin: database.db, engine: "pglite", url: null, close: () => database.close() };
  }

  if (citusUrl) {
    // The isolation suite and the fuzzer probe with statements that name no tenant on purpose
    // (what RLS must stop on every shard): `npm run test:citus` lets those fan out
    // (CITUS_FAN_OUT=allow). The flow suites run with the runtime role's guard on, so any
    // request statement that would reach every shard fails them.
    const runtime = databaseUrl(citusUrl, new URL(citusUrl).pathname.slice(1), "bulkhead_app");
    const url =
      process.env.CITUS_FAN_OUT === "allow"
        ? `${runtime}?options=${encodeURIComponent("-c citus.multi_task_query_log_level=off")}`
        : runtime;
    const database = connectPostgres({
      url,
      poolMax: options.poolMax ?? 5,
      prepare: options.prepare ?? true,
      ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    });
    const adminClient = postgres(citusUrl, { max: 2, onnotice: () => {} });
    // Files run one at a time here (`npm run test:citus`), on one database: each starts with no
    // throttle windows, mail or webhook deliveries of the files before it, as on a database of its own.
    await adminClient`truncate login_throttle, outbox, webhook_deliveries`;
    return {
      database,
      admin: drizzle(adminClient, { schema }),
      engine: "postgres",
      url,
      close: async () => {
        await database.close();
        await adminClient.end();
      },
    };
  }

  // The thread too: files of one run may share a process (the fast tier runs in worker threads).
  const name = `bulkhead_test_${process.pid}_${threadId}_${Date.now()}_${counter++}`;
  const server = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await server.unsafe(`create database ${name} template ${inject("templateDatabase")}`);
  await server.end();
  // Under BULKHEAD_TEST_PGBOUNCER the app's connections go through PgBouncer in transaction
  // mode, which needs unnamed statements; setup and inspection still connect directly.
  const bouncer = process.env.BULKHEAD_TEST_PGBOUNCER;
  const runtimeUrl = bouncer ? viaPgbouncer(urlFor(name, "bulkhead_app"), bouncer) : urlFor(name, "bulkhead_app");
  const database = connectPostgres({
    url: runtimeUrl,
    poolMax: options.poolMax ?? 5,
    prepare: bouncer ? false : (options.prepare ?? true),
    // Transaction mode cannot hold a LISTEN: as DATABASE_LISTEN_URL does, it goes direct.
    ...(bouncer ? { listenUrl: urlFor(name, "bulkhead_app") } : {}),
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const adminClient = postgres(urlFor(name), { max: 2, onnotice: () => {} });
  return {
    database,
    admin: drizzle(adminClient, { schema }),
    engine: "postgres",
    url: runtimeUrl,
    close: async () => {
      await database.close();
      await adminClient.end();
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

function viaPgbouncer(url: string, hostAndPort: string): string {
  const parsed = new URL(url);
  parsed.host = hostAndPort;
  return parsed.toString();
}
