/**
 * The server the HTTP benchmarks load: Bulkhead's app exactly as server/node.ts builds it, plus
 * a plain Hono route in the same process that runs the baseline SELECT with raw postgres.js.
 *   BENCH_APP_URL (bulkhead_app), BENCH_BASELINE_URL (superuser, no RLS), JWT_SECRET; prints
 *   `ready <port>` once it listens.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import postgres from "postgres";
import { connectPostgres } from "../db/postgres.js";
import { createApp } from "../server/app.js";
import { createArgon2Hasher } from "../server/auth/argon2.js";
import { parseConfig, toAppConfig } from "../server/config.js";
import { silentLogger } from "../server/deps.js";
import { baselineRead } from "./lib.js";

const env = parseConfig(process.env);
const database = connectPostgres({ url: process.env.BENCH_APP_URL ?? "", poolMax: 10, prepare: true });
const raw = postgres(process.env.BENCH_BASELINE_URL ?? "", { max: 10, onnotice: () => {} });
const app = createApp({
  database,
  config: toAppConfig(env, env.JWT_SECRET ?? ""),
  hasher: createArgon2Hasher(),
  logger: silentLogger,
});

const outer = new Hono();
outer.get("/baseline/projects", async (c) => {
  const tenant = c.req.query("tenant") ?? "";
  return c.json({ items: await baselineRead(raw, tenant) });
});
outer.route("/", app);

// Port 0: the system picks a free one (a fixed port could be some outgoing connection's).
serve({ fetch: outer.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
  process.stdout.write(`ready ${info.port}\n`);
});

// Exit cleanly on SIGTERM so `--cpu-prof` and friends can flush.
process.on("SIGTERM", () => process.exit(0));
