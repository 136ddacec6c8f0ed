/**
 * The Node entry point, and the only module with side effects: reads the environment, opens and
 * checks the database, listens, and shuts down gracefully on SIGTERM/SIGINT.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type HttpBindings, serve } from "@hono/node-server";
import { serveStatic } from "@hono/node-server/serve-static";
import { Hono, type MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { openDatabase, openJobsDatabase } from "../db/open.js";
import { checkPosture } from "../db/posture.js";
import { createApp } from "./app.js";
import { createArgon2Hasher } from "./auth/argon2.js";
import { ConfigError, longestThrottleWindowSeconds, toAppConfig } from "./config.js";
import { databaseConfigOf } from "./database-config.js";
import { consoleLogger, createConsoleLogger, type Logger } from "./deps.js";
import { loadEnv } from "./env.js";
import { loggedError } from "./errors.js";
import { EventHub } from "./events/hub.js";
import { startDispatcher } from "./mail/dispatcher.js";
import { fileTransport, mailLinksLogged, smtpTransport } from "./mail/transports.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { responseSent } from "./observability/node.js";
import { startPruning } from "./pruning.js";
import { resolveJwtSecret } from "./secrets.js";
import { startWebhookDispatcher } from "./webhooks/dispatcher.js";

// LOG_LEVEL applies once the environment is read; until then (and for a bad one), everything.
let logger: Logger = consoleLogger;

/**
 * The built web app at `/`, for a same-origin deployment: its files, and index.html for every
 * other path (the app routes in the browser). Hashed assets are cached for a year.
 */
function webApp(dist: string): MiddlewareHandler {
  const root = resolve(dist);
  const index = join(root, "index.html");
  if (!existsSync(index)) throw new ConfigError(`WEB_DIST: ${index} does not exist; run npm run build:web`);
  const cache = (path: string, c: Parameters<MiddlewareHandler>[0]) =>
    c.header("cache-control", path.includes("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
  const files = serveStatic({ root, onFound: cache });
  const page = serveStatic({ path: index, onFound: cache });
  return (c, next) =>
    files(c, async () => {
      const response = await page(c, next);
      if (response) c.res = response;
    });
}

/** `/metrics` alone on a port of its own (METRICS_PORT), for a scraper on a private network. */
function serveMetrics(metrics: Metrics, port: number, hostname: string, token: string | undefined) {
  const app = new Hono();
  if (token) app.use(bearerAuth({ token }));
  app.get("/metrics", () => metrics.response());
  return serve({ fetch: app.fetch, port, hostname }, (info) =>
    logger.info(`metrics on http://${info.address}:${info.port}/metrics`),
  );
}

async function main() {
  const raw = loadEnv();
  logger = createConsoleLogger(raw.LOG_LEVEL);
  const dataRoot = raw.PGLITE_DATA_DIR === "memory://" ? "./.data" : dirname(raw.PGLITE_DATA_DIR);
  const secret = await resolveJwtSecret(raw, join(dataRoot, "jwt-secret"), logger);
  const config = toAppConfig(raw, secret);
  if (!raw.SMTP_URL && raw.NODE_ENV === "production") {
    throw new ConfigError("SMTP_URL is required in production (without it mail is only written to files)");
  }

  const databaseConfig = databaseConfigOf(raw);
  const database = await openDatabase(databaseConfig);
  const posture = await checkPosture(database.db);
  if (posture.problems.length > 0) {
    logger.error("refusing to start: the database does not enforce tenant isolation", { problems: posture.problems });
    await database.close();
    process.exit(1);
  }
  if (database.engine === "postgres") for (const warning of posture.warnings) logger.warn(warning);

  // Metrics are kept only when someone may read them: with METRICS_TOKEN on the API's port, or
  // on METRICS_PORT of their own.
  // Background jobs run on a pool of their own (db/open.ts), and so does the metrics' outbox backlog.
  const jobs = openJobsDatabase(databaseConfig, database);
  const metrics = raw.METRICS_TOKEN || raw.METRICS_PORT ? createMetrics(database, jobs) : undefined;
  // Live event streams: LISTEN on the database, caps, and a way out at shutdown.
  const events = new EventHub(config.events);
  const app = createApp({
    events,
    database,
    config,
    hasher: createArgon2Hasher(),
    logger,
    ...(metrics ? { metrics } : {}),
    ...(raw.WEB_DIST ? { webApp: webApp(raw.WEB_DIST) } : {}),
    peerAddress: (_request, env) => (env as Partial<HttpBindings> | undefined)?.incoming?.socket.remoteAddress,
    whenSent: responseSent,
  });

  const server = serve({ fetch: app.fetch, port: raw.PORT, hostname: raw.HOST }, (info) => {
    const where = database.engine === "pglite" ? `PGlite in ${raw.PGLITE_DATA_DIR}` : "PostgreSQL";
    logger.info(
      `Bulkhead listening on http://${info.address === "0.0.0.0" ? "localhost" : info.address}:${info.port} (${where})`,
    );
  });

  const metricsServer =
    metrics && raw.METRICS_PORT ? serveMetrics(metrics, raw.METRICS_PORT, raw.METRICS_HOST, raw.METRICS_TOKEN) : null;

  // Mail leaves through the outbox; in development, without SMTP_URL, into files in MAIL_DIR.
  const transport = raw.SMTP_URL
    ? smtpTransport(raw.SMTP_URL, raw.MAIL_FROM)
    : fileTransport(raw.MAIL_DIR, raw.MAIL_FROM, logger, { logLinks: mailLinksLogged(raw) });
  const dispatcher =
    raw.OUTBOX_POLL_MS > 0
      ? startDispatcher({
          db: jobs.db,
          transport,
          logger,
          intervalMs: raw.OUTBOX_POLL_MS,
          leaseSeconds: raw.OUTBOX_LEASE_SECONDS,
          maxAttempts: raw.OUTBOX_MAX_ATTEMPTS,
        })
      : null;

  // Webhooks leave through their own dispatcher, on the jobs' pool like the outbox's.
  const webhookDispatcher =
    raw.WEBHOOK_POLL_MS > 0
      ? startWebhookDispatcher({
          db: jobs.db,
          logger,
          mail: config.mail,
          retryBaseSeconds: raw.WEBHOOK_RETRY_BASE_SECONDS,
          maxAttempts: raw.WEBHOOK_MAX_ATTEMPTS,
          disableAfter: raw.WEBHOOK_DISABLE_AFTER,
          timeoutMs: raw.WEBHOOK_TIMEOUT_SECONDS * 1000,
          allowPrivateTargets: raw.WEBHOOK_ALLOW_PRIVATE,
          intervalMs: raw.WEBHOOK_POLL_MS,
        })
      : null;

  const pruning =
    raw.PRUNE_INTERVAL_SECONDS > 0
      ? startPruning({
          database: jobs,
          throttleWindowSeconds: longestThrottleWindowSeconds(raw),
          auditRetentionDays: raw.AUDIT_RETENTION_DAYS ?? null,
          eventRetentionDays: raw.EVENT_RETENTION_DAYS,
          slugReservedDays: raw.TENANT_SLUG_RESERVED_DAYS,
          logger,
          intervalMs: raw.PRUNE_INTERVAL_SECONDS * 1000,
          firstDelayMs: Math.min(60_000, raw.PRUNE_INTERVAL_SECONDS * 1000),
        })
      : null;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping; finishing in-flight requests`);
    const forced = setTimeout(() => {
      logger.error("shutdown timed out; exiting");
      process.exit(1);
    }, raw.SHUTDOWN_TIMEOUT_MS);
    forced.unref();
    // close() stops accepting and resolves once open requests have finished; live streams never
    // finish by themselves, so they are cut (their clients reconnect elsewhere, from their last id).
    const closed = new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ("closeIdleConnections" in server) server.closeIdleConnections();
    });
    await events.close();
    await closed;
    metricsServer?.close();
    await pruning?.stop();
    await dispatcher?.stop();
    await webhookDispatcher?.stop();
    transport.close();
    await jobs.close();
    await database.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.error("could not start", { ...loggedError(error) });
  process.exit(1);
});
