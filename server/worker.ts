/**
 * The Cloudflare Workers (workerd) entry: the same app as on Node, built from the Worker's env
 * bindings, with postgres.js over Workers sockets (`nodejs_compat`) and argon2id in WebAssembly.
 * Bundle it with `npm run build:worker`; deploy with wrangler (see README).
 *
 * Workers do not let one request use I/O objects (sockets) another request opened, so each
 * request gets its own small postgres.js client, closed after the response (put Hyperdrive or
 * PgBouncer in front: connecting is then cheap), handed to the app through its env. Everything
 * else — the app, its token service and verified-token cache — is built once per isolate.
 */
import type { ExecutionContext } from "hono";
import { connectPostgres } from "../db/postgres.js";
import { pruneExpired } from "../db/prune.js";
import type { Database } from "../db/types.js";
import { type App, createApp } from "./app.js";
import { createWasmArgon2Hasher } from "./auth/argon2-wasm.js";
import argon2Module from "./auth/argon2-wasm-module.js";
import { TokenService } from "./auth/tokens.js";
import { ConfigError, longestThrottleWindowSeconds, parseConfig, toAppConfig } from "./config.js";
import { databaseConfigOf } from "./database-config.js";
import { type AppDeps, systemClock } from "./deps.js";

type SharedDeps = Omit<AppDeps, "database" | "tokens"> & {
  url: string;
  poolMax: number;
  /** The requests' bound on a statement's answer (db/postgres.ts). */
  responseTimeoutMs: number | undefined;
  prepare: boolean;
  throttleWindowSeconds: number;
  auditRetentionDays: number | null;
  eventRetentionDays: number;
  tokens: TokenService;
};

let shared: SharedDeps | undefined;
let app: App | undefined;

/** The key under which an invocation's database travels in the env it passes to the app. */
const invocationDatabase = "__bulkheadInvocationDatabase";

/** What this isolate has built: tests check that its token cache serves repeat requests. */
export function isolateState() {
  return { built: app !== undefined, tokenCache: shared?.tokens.cache ?? null };
}

function sharedDeps(env: Record<string, unknown>) {
  if (shared) return shared;
  const raw = parseConfig(env);
  if (!raw.DATABASE_URL) throw new ConfigError("the DATABASE_URL binding is required in Workers");
  if (!raw.JWT_SECRET) throw new ConfigError("the JWT_SECRET binding (a secret) is required in Workers");
  const config = toAppConfig(raw, raw.JWT_SECRET);
  shared = {
    url: raw.DATABASE_URL,
    poolMax: Math.min(raw.DATABASE_POOL_MAX, 5),
    responseTimeoutMs: databaseConfigOf(raw).responseTimeoutMs,
    prepare: raw.DATABASE_PREPARE,
    throttleWindowSeconds: longestThrottleWindowSeconds(raw),
    auditRetentionDays: raw.AUDIT_RETENTION_DAYS ?? null,
    eventRetentionDays: raw.EVENT_RETENTION_DAYS,
    config,
    tokens: new TokenService(config.jwt, systemClock),
    hasher: createWasmArgon2Hasher(argon2Module),
    peerAddress: (request) => request.headers.get("cf-connecting-ip") ?? undefined,
  };
  return shared;
}

/** A client of this invocation's own (see above), closed once the invocation is done. */
async function withInvocationDatabase<T>(
  deps: SharedDeps,
  pool: { poolMax: number; responseTimeoutMs?: number },
  ctx: ExecutionContext,
  fn: (database: Database) => Promise<T>,
): Promise<T> {
  const database = connectPostgres({ url: deps.url, prepare: deps.prepare, ...pool });
  try {
    return await fn(database);
  } finally {
    ctx.waitUntil(database.close());
  }
}

export default {
  async fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Promise<Response> {
    const deps = sharedDeps(env);
    app ??= createApp({
      ...deps,
      database: (appEnv) => {
        const database = (appEnv as Record<string, unknown>)[invocationDatabase];
        if (!database) throw new Error("no database for this invocation");
        return database as Database;
      },
    });
    const built = app;
    const pool = {
      poolMax: deps.poolMax,
      ...(deps.responseTimeoutMs ? { responseTimeoutMs: deps.responseTimeoutMs } : {}),
    };
    return withInvocationDatabase(deps, pool, ctx, async (database) =>
      built.fetch(request, { ...env, [invocationDatabase]: database }, ctx),
    );
  },

  /**
   * Cron Triggers (`[triggers]` in wrangler.toml): prunes expired rows, as the Node server's
   * timer does. Bounded per run; the next run goes on where this one stopped.
   */
  async scheduled(_controller: unknown, env: Record<string, unknown>, ctx: ExecutionContext): Promise<void> {
    const deps = sharedDeps(env);
    // Pruning's batches run up to jobStatementTimeoutMs: no request's bound on this pool.
    await withInvocationDatabase(deps, { poolMax: 1 }, ctx, (database) =>
      pruneExpired(database.db, {
        throttleWindowSeconds: deps.throttleWindowSeconds,
        auditRetentionDays: deps.auditRetentionDays,
        eventRetentionDays: deps.eventRetentionDays,
        maxBatches: 20,
      }),
    );
  },
};
