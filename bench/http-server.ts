/**
 * The server the HTTP benchmarks load: Bulkhead's app exactly as server/node.ts builds it, plus,
 * in the same process, the baselines: plain Hono routes running the baseline SELECT (P2) and the
 * baseline write (P6) with raw postgres.js, `projects.list` as a team would write it with
 * Drizzle's documented RLS pattern behind the same tRPC and Hono (P7), and the floor of that
 * stack: bare tRPC procedures reading (P2c) and writing (P6c) with raw postgres.js.
 *   BENCH_APP_URL (bulkhead_app), BENCH_BASELINE_URL (superuser, no RLS), JWT_SECRET; prints
 *   `ready <port>` once it listens.
 */
import { serve } from "@hono/node-server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { and, eq, sql } from "drizzle-orm";
import { Hono } from "hono";
import postgres from "postgres";
import { z } from "zod";
import { connectPostgres } from "../db/postgres.js";
import { projects } from "../db/schema.js";
import { createApp } from "../server/app.js";
import { createArgon2Hasher } from "../server/auth/argon2.js";
import { TokenService } from "../server/auth/tokens.js";
import { parseConfig, toAppConfig } from "../server/config.js";
import { bearerToken } from "../server/context.js";
import { createConsoleLogger, silentLogger, systemClock } from "../server/deps.js";
import { responseSent } from "../server/observability/node.js";
import { afterCursor, newestFirst, pageInput, toPage } from "../server/pagination.js";
import { publicProcedure, router } from "../server/trpc.js";
import { idField, nameField } from "../server/validation.js";
import { baselineRead, baselineWrite } from "./lib.js";

const env = parseConfig(process.env);
const database = connectPostgres({ url: process.env.BENCH_APP_URL ?? "", poolMax: 10, prepare: true });
const raw = postgres(process.env.BENCH_BASELINE_URL ?? "", { max: 10, onnotice: () => {} });
const config = toAppConfig(env, env.JWT_SECRET ?? "");
// As in production: an access-log line per request on stdout (the runner drains it), each
// written once its response is sent.
const app = createApp({
  database,
  config,
  hasher: createArgon2Hasher(),
  logger: createConsoleLogger(env.LOG_LEVEL),
  whenSent: responseSent,
});

// P7: Drizzle's documented RLS pattern (drizzle docs, "Row-Level Security": a transaction that
// sets the claims with set_config, then the query), on a database of its own with the same pool,
// behind the same tRPC (same init, transformer and input) and the same Hono app, so through the
// same middleware (request id, access log, secure headers, CORS): the bearer token verified as
// Bulkhead verifies it, no membership or session check.
const drizzleRls = connectPostgres({ url: process.env.BENCH_APP_URL ?? "", poolMax: 10, prepare: true });
const tokens = new TokenService(config.jwt, systemClock);
const p7 = router({
  list: publicProcedure.input(pageInput).query(async ({ ctx, input }) => {
    const claims = await tokens.verifyAccess(ctx.accessToken ?? "");
    return drizzleRls.db.transaction(async (tx) => {
      await tx.execute(
        sql`select set_config('app.tenant_id', ${claims.tenantId}, true), set_config('app.user_id', ${claims.userId}, true)`,
      );
      const rows = await tx
        .select({
          id: projects.id,
          name: projects.name,
          description: projects.description,
          createdBy: projects.createdBy,
          createdAt: projects.createdAt,
          updatedAt: projects.updatedAt,
        })
        .from(projects)
        .where(and(eq(projects.tenantId, claims.tenantId), afterCursor(projects.createdAt, projects.id, input.cursor)))
        .orderBy(...newestFirst(projects.createdAt, projects.id))
        .limit(input.limit + 1);
      return toPage(rows, input.limit);
    });
  }),
});

// P2c: the floor of P2's stack — the same tRPC (init, superjson, input) with the token verified,
// reading the baseline SELECT with raw postgres.js, mounted beside the app: no middleware, RLS,
// membership check or Drizzle. What `projects.list` can reach at best over tRPC.
const bare = router({
  list: publicProcedure.input(pageInput).query(async ({ ctx, input }) => {
    const claims = await tokens.verifyAccess(ctx.accessToken ?? "");
    const rows = await baselineRead(raw, claims.tenantId);
    return toPage(
      rows.map((row) => ({
        id: row.id as string,
        name: row.name as string,
        description: row.description as string | null,
        createdBy: row.created_by as string,
        createdAt: row.created_at as Date,
        updatedAt: row.updated_at as Date,
      })),
      input.limit,
    );
  }),
  // P6c: the same for a write — tasks.create's input, the token verified, the baseline's
  // transaction (the task and its audit row), the task answered through superjson.
  create: publicProcedure.input(z.object({ projectId: idField, title: nameField })).mutation(async ({ ctx, input }) => {
    const claims = await tokens.verifyAccess(ctx.accessToken ?? "");
    const task = await baselineWrite(raw, { tenantId: claims.tenantId, userId: claims.userId, ...input });
    if (!task) throw new Error("the baseline wrote no task");
    return {
      id: task.id,
      projectId: task.project_id,
      title: task.title,
      status: task.status,
      assigneeId: task.assignee_id,
      createdAt: task.created_at,
      updatedAt: task.updated_at,
    };
  }),
});

const outer = new Hono();
/** Serves a benchmark router at `endpoint`, its context the bearer token (as the app reads it). */
const serveRouter =
  (endpoint: string, served: typeof p7 | typeof bare) =>
  (c: { req: { raw: Request; header(name: string): string | undefined } }) =>
    fetchRequestHandler({
      endpoint,
      req: c.req.raw,
      router: served,
      createContext: () =>
        ({
          accessToken: bearerToken(c.req.header("authorization")),
          requestId: endpoint.slice(1),
          logger: silentLogger,
        }) as never,
    });
outer.all("/bare/*", serveRouter("/bare", bare));
outer.get("/baseline/projects", async (c) => {
  const tenant = c.req.query("tenant") ?? "";
  return c.json({ items: await baselineRead(raw, tenant) });
});
// P6: what tasks.create writes (the task and its audit event), in one postgres.js transaction.
outer.post("/baseline/tasks", async (c) => {
  const body = await c.req.json<{ tenantId: string; userId: string; projectId: string; title: string }>();
  return c.json(await baselineWrite(raw, body));
});
// `npm run bench:profile`: V8's sampling profiler over exactly the measured window, started and
// stopped over HTTP by the load generator (a --cpu-prof profile also holds start-up and warm-up).
if (process.env.BENCH_PROFILE_ROUTES === "1") {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  outer.post("/__profile/start", async (c) => {
    await session.post("Profiler.start");
    return c.json({ ok: true });
  });
  outer.post("/__profile/stop", async (c) => c.json((await session.post("Profiler.stop")).profile));
}

// On the app itself, after its middleware: a team writing this pattern would serve it behind
// the same request id, access log and headers (mounted on `outer`, it skipped them: 1.16x
// there against 1.45x here, BENCHMARKS.md).
app.all("/p7/*", serveRouter("/p7", p7));
outer.route("/", app);

// Port 0: the system picks a free one (a fixed port could be some outgoing connection's).
serve({ fetch: outer.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
  process.stdout.write(`ready ${info.port}\n`);
});

// Exit cleanly on SIGTERM so `--cpu-prof` and friends can flush.
process.on("SIGTERM", () => process.exit(0));
