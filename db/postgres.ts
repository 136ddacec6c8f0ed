import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { activityOf } from "./activity.js";
import * as schema from "./schema.js";
import { withStatementCache } from "./statement-cache.js";
import type { Database } from "./types.js";

export interface PostgresOptions {
  url: string;
  /** Connections in the pool (default 10). */
  poolMax?: number;
  /** Named prepared statements; must be false behind PgBouncer in transaction mode. */
  prepare?: boolean;
  /** Seconds an idle connection is kept (default 30). */
  idleTimeout?: number;
  /**
   * How long opening a connection may take, in milliseconds (default 2000); also the most a
   * request waits between attempts while the database is away (see `backoffSeconds`).
   */
  connectTimeoutMs?: number;
  /**
   * How long a statement may wait for any byte of its answer, in milliseconds, before its
   * connection is destroyed and its request fails as unavailable (a network partition leaves a
   * socket open with nothing passing). Set it above the longest `statement_timeout` run on the
   * pool; unset: no bound (docs/decisions/022-a-partition-is-bounded.md).
   */
  responseTimeoutMs?: number;
  /**
   * Where LISTEN connects: a direct connection, where `url` goes through PgBouncer in transaction
   * mode (which cannot hold a LISTEN). Default: `url`.
   */
  listenUrl?: string;
  /** How the pool's connections name themselves in pg_stat_activity (default `bulkhead`). */
  applicationName?: string;
  /** Called with every statement sent and its parameters (logging, query-plan checks). */
  onQuery?: (query: string, parameters: readonly unknown[]) => void;
}

/**
 * The pause before a connection that failed is tried again: postgres.js's default grows to 20 s,
 * and a request queued behind it waited that long after the database was back. Capped at a
 * quarter of the connect bound, so a request waits at most about that bound either way
 * (docs/decisions/013-database-outages.md).
 */
export const backoffSeconds = (connectTimeoutMs: number) => (retries: number) =>
  Math.min(0.05 * 2 ** retries, connectTimeoutMs / 4000) * (0.5 + Math.random() / 2);

/**
 * The bound on a statement's answer for a pool whose statements run at most `statementTimeoutMs`:
 * that, plus a margin for the network and a busy client.
 */
export const responseTimeoutFor = (statementTimeoutMs: number) => statementTimeoutMs + 2000;

/**
 * Opens a postgres.js pool. Uses only Web-standard APIs plus sockets, so it also runs in
 * workerd with `nodejs_compat`.
 *
 * @example
 * const database = connectPostgres({ url: "postgres://bulkhead_app@127.0.0.1/app", prepare: false });
 */
export function connectPostgres(options: PostgresOptions): Database {
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const client = postgres(options.url, {
    max: options.poolMax ?? 10,
    prepare: options.prepare ?? true,
    idle_timeout: options.idleTimeout ?? 30,
    connect_timeout: connectTimeoutMs / 1000,
    backoff: backoffSeconds(connectTimeoutMs),
    // TCP keepalive after 10 s idle, so a silently dropped idle connection is found by the kernel.
    keep_alive: 10,
    ...(options.responseTimeoutMs ? { response_timeout: options.responseTimeoutMs / 1000 } : {}),
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "bulkhead" },
    ...(options.onQuery
      ? { debug: (_: number, query: string, parameters: unknown[]) => options.onQuery?.(query, parameters) }
      : {}),
  });
  const prepare = options.prepare ?? true;
  const db = drizzle(prepare ? withStatementCache(client) : client, { schema });
  activityOf(db).poolSize = options.poolMax ?? 10;
  // postgres.js listens on a connection of its own, outside the pool, and listens again after
  // it reconnects; with listenUrl that connection goes there.
  let listener: postgres.Sql | undefined;
  const listenerClient = () => {
    if (!options.listenUrl) return client;
    listener ??= postgres(options.listenUrl, {
      max: 1,
      connect_timeout: connectTimeoutMs / 1000,
      backoff: backoffSeconds(connectTimeoutMs),
      keep_alive: 10,
      onnotice: () => {},
      connection: { application_name: `${options.applicationName ?? "bulkhead"} listen` },
    });
    return listener;
  };
  return {
    db,
    engine: "postgres",
    listen: async (channel, onNotify) => {
      const { unlisten } = await listenerClient().listen(channel, onNotify);
      return unlisten;
    },
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), listener?.end({ timeout: 1 })]);
    },
  };
}
