/**
 * The Cloudflare Workers (workerd) entry: the same app as on Node, built from the Worker's env
 * bindings, with postgres.js over Workers sockets (`nodejs_compat`) and the portable argon2id.
 * Bundle it with `npm run build:worker`; deploy with wrangler (see README).
 *
 * Workers do not let one request use I/O objects (sockets) another request opened, so each
 * request gets its own small postgres.js client, closed after the response (put Hyperdrive or
 * PgBouncer in front: connecting is then cheap). Everything else is built once per isolate.
 */
import type { ExecutionContext } from "hono";
import { connectPostgres } from "../db/postgres.js";
import { pruneExpired } from "../db/prune.js";
import type { Database } from "../db/types.js";
import { createApp } from "./app.js";
import { createPortableArgon2Hasher } from "./auth/argon2-portable.js";
import { ConfigError, parseConfig, toAppConfig } from "./config.js";
import type { AppDeps } from "./deps.js";
import { throttleWindowSeconds } from "./pruning.js";

let shared: (Omit<AppDeps, "database"> & { url: string; poolMax: number; prepare: boolean }) | undefined;

function sharedDeps(env: Record<string, unknown>) {
  if (shared) return shared;
  const raw = parseConfig(env);
  if (!raw.DATABASE_URL) throw new ConfigError("the DATABASE_URL binding is required in Workers");
  if (!raw.JWT_SECRET) throw new ConfigError("the JWT_SECRET binding (a secret) is required in Workers");
  shared = {
    url: raw.DATABASE_URL,
    poolMax: Math.min(raw.DATABASE_POOL_MAX, 5),
    prepare: raw.DATABASE_PREPARE,
    config: toAppConfig(raw, raw.JWT_SECRET),
    hasher: createPortableArgon2Hasher(),
    peerAddress: (request) => request.headers.get("cf-connecting-ip") ?? undefined,
  };
  return shared;
}

export default {
  async fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Promise<Response> {
    const deps = sharedDeps(env);
    const database: Database = connectPostgres({ url: deps.url, poolMax: deps.poolMax, prepare: deps.prepare });
    try {
      return await createApp({ ...deps, database }).fetch(request, env, ctx);
    } finally {
      ctx.waitUntil(database.close());
    }
  },

  /**
   * Cron Triggers (`[triggers]` in wrangler.toml): prunes expired rows, as the Node server's
   * timer does. Bounded per run; the next run goes on where this one stopped.
   */
  async scheduled(_controller: unknown, env: Record<string, unknown>, ctx: ExecutionContext): Promise<void> {
    const deps = sharedDeps(env);
    const database: Database = connectPostgres({ url: deps.url, poolMax: 1, prepare: deps.prepare });
    try {
      await pruneExpired(database.db, { throttleWindowSeconds: throttleWindowSeconds(deps.config), maxBatches: 20 });
    } finally {
      ctx.waitUntil(database.close());
    }
  },
};
