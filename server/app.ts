/**
 * The Bulkhead HTTP app, built from injected dependencies. Web-standard APIs only: the same app
 * runs on Node (server/node.ts), in workerd, Bun or Deno.
 *
 * @example
 * const app = createApp({ database, config, hasher });
 * const response = await app.request("/healthz");
 */

import { Scalar } from "@scalar/hono-api-reference";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { sql } from "drizzle-orm";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { KeyBudget } from "./auth/api-keys.js";
import { browserSessionOf, sessionModeHeader } from "./auth/browser.js";
import { Encryption } from "./auth/encryption.js";
import { budgetHashing, limitHashing } from "./auth/hashing.js";
import { tooMany } from "./auth/refusals.js";
import { randomSecret, TokenService } from "./auth/tokens.js";
import { bearerToken, createContextInner, TenantHintError, tenantHintOf, userAgentOf } from "./context.js";
import { within } from "./deadline.js";
import { type AppDeps, consoleLogger, systemClock } from "./deps.js";
import { loggedError, retryAfterSeconds, tenantMismatch } from "./errors.js";
import { EventHub } from "./events/hub.js";
import { accessLog, type RequestFacts } from "./observability/access-log.js";
import { openApiDocument, restBase, serveRest } from "./rest.js";
import { appRouter } from "./routers/_app.js";
import { serveExport } from "./tenant/export-route.js";

/** The most calls one batched request may carry; `@bulkhead/client` batches at most this many. */
export const maxBatchSize = 20;
/** Password hashes or verifications one HTTP request may buy, a batch included: a password change takes two. */
export const hashesPerRequest = 2;
const maxBodyBytes = 1024 * 1024;
const readinessTimeoutMs = 1000;
/** Every procedure path: only these become metric labels (a URL can name anything). */
const knownProcedures: ReadonlySet<string> = new Set(Object.keys(appRouter._def.procedures));

/** An incoming request id worth keeping: word characters, `-` and `=`, at most 128 of them. */
const requestIdPattern = /^[\w\-=]{1,128}$/;

const octet = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const ipPattern = new RegExp(`^(?:${octet}(?:\\.${octet}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$`);

/**
 * The client's address. Behind our proxies (TRUST_PROXY), it is the entry the outermost of them
 * appended to X-Forwarded-For: `TRUSTED_PROXY_HOPS` from the right. Everything left of it the
 * client wrote itself. A header with fewer entries did not pass through all our proxies: the
 * peer address is used instead.
 */
export function clientAddressOf(
  request: Request,
  env: unknown,
  deps: Pick<AppDeps, "config" | "peerAddress">,
): string | null {
  const hops = deps.config.trustedProxyHops;
  let address: string | null | undefined;
  if (hops !== null) {
    const entries = request.headers.get("x-forwarded-for")?.split(",") ?? [];
    address = entries.length >= hops ? entries[entries.length - hops]?.trim() : undefined;
  }
  address ||= deps.peerAddress?.(request, env) ?? null;
  // Strip an IPv4-mapped prefix; keep only well-formed addresses (they go into an inet column).
  const plain = address?.replace(/^::ffff:(?=\d+\.)/, "") ?? null;
  return plain && ipPattern.test(plain) ? plain : null;
}

/**
 * The request's tenant hint; FORBIDDEN for every call when its hints are malformed or disagree.
 * A subscription may name its tenant in tRPC's connectionParams (an EventSource sends no headers).
 */
function tenantHintFor(request: Request, baseDomain: string | undefined, fromParams?: string | null): string | null {
  try {
    const hint = tenantHintOf(request, baseDomain);
    if (fromParams == null) return hint;
    const named = fromParams.trim().toLowerCase();
    if (!named) throw new TenantHintError("empty tenant in connectionParams");
    if (hint !== null && hint !== named)
      throw new TenantHintError("connectionParams and the request name different tenants");
    return named;
  } catch (error) {
    if (error instanceof TenantHintError) throw tenantMismatch(error);
    throw error;
  }
}

/** A string value of tRPC's connectionParams, or null. */
function paramOf(params: Record<string, string | undefined> | null | undefined, name: string): string | null {
  const value = params?.[name];
  return typeof value === "string" ? value : null;
}

export function createApp(deps: AppDeps) {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? consoleLogger;
  const tokens = deps.tokens ?? new TokenService(deps.config.jwt, clock);
  const encryption = new Encryption(deps.config.encryption, deps.config.jwt.current.secret);
  // Every password hash of the process waits its turn (server/auth/hashing.ts).
  const hasher = limitHashing(deps.hasher, deps.config.hashing);
  // Login verifies against this when the user is unknown, so every attempt costs one hash.
  let dummyHash: Promise<string> | undefined;
  const dummyPasswordHash = () => {
    dummyHash ??= hasher.hash(randomSecret());
    return dummyHash;
  };

  // Live event streams: caps, wake-ups and shutdown (server/events/hub.ts).
  const events = deps.events ?? new EventHub(deps.config.events);
  // This server's slices of its API keys' request budgets (server/auth/api-keys.ts).
  const keyBudget = deps.keyBudget ?? new KeyBudget(deps.config);

  const given = deps.database;
  const databaseOf = typeof given === "function" ? given : () => given;

  const app = new Hono<{ Variables: { requestId: string; facts: RequestFacts } }>();
  // The caller's X-Request-Id when it is a sane one (as hono/request-id accepts), else a new one;
  // set on the response after the handler, because handlers that return their own Response
  // (tRPC's) would drop a header set before them.
  app.use(async (c, next) => {
    const given = c.req.header("x-request-id");
    const id = given && requestIdPattern.test(given) ? given : crypto.randomUUID();
    c.set("requestId", id);
    await next();
    c.res.headers.set("x-request-id", id);
  });

  // One JSON line per request (and the metrics' counts): who, what, outcome, time, size.
  app.use(
    accessLog({
      logger,
      procedures: knownProcedures,
      slowRequestMs: deps.config.observability.slowRequestMs,
      observer: deps.metrics,
      whenSent: deps.whenSent,
    }),
  );

  // Every response: nosniff, no framing, no referrer, HSTS, and a CSP for the app WEB_DIST serves;
  // the API reference page (Scalar) may also load its script and styles from its CDN.
  const policy = {
    defaultSrc: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
    formAction: ["'self'"],
    objectSrc: ["'none'"],
    imgSrc: ["'self'", "data:"],
  };
  const appHeaders = secureHeaders({ contentSecurityPolicy: policy, xFrameOptions: "DENY" });
  const scalarCdn = "https://cdn.jsdelivr.net";
  const docsHeaders = secureHeaders({
    contentSecurityPolicy: {
      ...policy,
      scriptSrc: ["'self'", "'unsafe-inline'", scalarCdn],
      styleSrc: ["'self'", "'unsafe-inline'", scalarCdn],
      fontSrc: ["'self'", "data:", scalarCdn],
    },
    xFrameOptions: "DENY",
  });
  app.use((c, next) => (c.req.path === "/api/docs" ? docsHeaders(c, next) : appHeaders(c, next)));

  // CORS for the CORS_ORIGINS allowlist only, with credentials. Any other origin gets no CORS
  // header at all (its preflight a bare 403), so a foreign page learns nothing of the list.
  const { origins, corsMaxAgeSeconds } = deps.config.browser;
  const allowCors = cors({
    origin: (origin) => origin,
    credentials: true,
    allowMethods: ["GET", "POST"],
    allowHeaders: ["authorization", "content-type", sessionModeHeader, "x-tenant", "x-request-id", "trpc-accept"],
    exposeHeaders: ["x-request-id", "retry-after"],
    maxAge: corsMaxAgeSeconds,
  });
  app.use(async (c, next) => {
    const origin = c.req.header("origin");
    if (origin && origins.includes(origin)) return allowCors(c, next);
    if (origin && c.req.method === "OPTIONS") return c.body(null, 403);
    await next();
    if (origins.length > 0) c.res.headers.append("vary", "Origin");
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  // Prometheus metrics on the API's port, for METRICS_TOKEN's bearer only (or on METRICS_PORT,
  // served by the entry point: then not here at all).
  const { metricsToken } = deps.config.observability;
  const metrics = deps.metrics;
  if (metrics && metricsToken) {
    app.get("/metrics", bearerAuth({ token: metricsToken }), () => metrics.response());
  }

  // Ready when the database answers within a second; a probe never waits longer than that.
  app.get("/readyz", async (c) => {
    try {
      const database = databaseOf(c.env);
      await within(
        database.db.execute(sql`select 1`),
        readinessTimeoutMs,
        () => new Error("the database did not answer within 1 s"),
      );
      return c.json({ status: "ready", database: database.engine });
    } catch (error) {
      logger.warn("readiness check failed", { requestId: c.get("requestId"), ...loggedError(error) });
      c.header("retry-after", String(retryAfterSeconds));
      return c.json({ status: "unavailable" }, 503);
    }
  });

  // Bounded input: a request body over 1 MiB, or a batch of more than 20 calls, is refused before
  // any procedure runs (each call of a batch is its own transaction).
  const tooLarge = (c: Context) => c.json({ error: `Request body larger than ${maxBodyBytes} bytes` }, 413);
  const limitBody = bodyLimit({ maxSize: maxBodyBytes, onError: tooLarge });
  // GET and HEAD carry no body. A declared length is checked from its header alone, as bodyLimit
  // would, before bodyLimit asks for `body`: on @hono/node-server that builds a whole Request and
  // two streams for every write (decision 028). A chunked body goes to bodyLimit, which counts it.
  const limitWrites: MiddlewareHandler = (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) return limitBody(c, next);
    return Number.parseInt(length, 10) > maxBodyBytes ? Promise.resolve(tooLarge(c)) : next();
  };
  app.use("/trpc/*", limitWrites);

  // One request's context, for tRPC and the REST face alike: the same caller, tenant hint and
  // limits whichever way a procedure is reached.
  type AppContext = Context<{ Variables: { requestId: string; facts: RequestFacts } }>;
  const contextFor = (
    c: AppContext,
    req: Request,
    resHeaders: Headers,
    connectionParams: Record<string, string | undefined> | null,
  ) =>
    createContextInner({
      database: databaseOf(c.env),
      config: deps.config,
      hasher: budgetHashing(hasher, hashesPerRequest, {
        spent: () => tooMany(resHeaders, 1, "password operations in one request"),
        busy: () => tooMany(resHeaders, 1, "password operations at once on this server"),
      }),
      tokens,
      encryption,
      clock,
      logger,
      dummyPasswordHash,
      requestId: c.get("requestId"),
      // An EventSource cannot send headers: a subscription may carry its token in
      // connectionParams (a query parameter, which the access log never records).
      accessToken: bearerToken(req.headers.get("authorization")) ?? paramOf(connectionParams, "token"),
      tenantHint: tenantHintFor(req, deps.config.baseDomain, paramOf(connectionParams, "tenant")),
      clientAddress: clientAddressOf(req, c.env, deps),
      userAgent: userAgentOf(req.headers.get("user-agent")),
      resHeaders,
      browser: browserSessionOf(req, deps.config, resHeaders),
      facts: c.get("facts"),
      events,
      keyBudget,
    });

  app.all("/trpc/*", async (c) => {
    const response = await fetchRequestHandler({
      endpoint: "/trpc",
      req: c.req.raw,
      router: appRouter,
      allowMethodOverride: false,
      maxBatchSize,
      onError: ({ error, path }) => {
        if (path) c.get("facts").failures.set(path, error.code);
      },
      createContext: ({ req, resHeaders, info }) => contextFor(c, req, resHeaders, info.connectionParams),
    });
    // A live stream's body: cut once its client stops reading, and at shutdown.
    const stream = response.headers.get("content-type")?.startsWith("text/event-stream") && response.body;
    return stream ? new Response(events.cutOffStalled(stream), response) : response;
  });

  // The REST face (server/rest.ts): the same procedures, for scripts and other languages.
  app.use(`${restBase}/*`, limitWrites);
  app.get(`${restBase}/openapi.json`, async (c) => c.json(await openApiDocument(new URL(c.req.url).origin)));
  // The interactive reference (Scalar), which loads its script from its CDN (see docsHeaders).
  app.get("/api/docs", Scalar({ url: `${restBase}/openapi.json`, pageTitle: "Bulkhead API" }));
  app.all(`${restBase}/*`, (c) =>
    serveRest({
      request: c.req.raw,
      createContext: (resHeaders) => contextFor(c, c.req.raw, resHeaders, null),
    }),
  );

  // The tenant's data as an NDJSON download, for its owner (server/tenant/export-route.ts).
  const exports = new Set<string>();
  app.get("/export", (c) =>
    serveExport(
      c,
      { tokens, config: deps.config, logger, running: exports },
      {
        database: databaseOf(c.env),
        requestId: c.get("requestId"),
        clientAddress: clientAddressOf(c.req.raw, c.env, deps),
        tenantSlug: () => tenantHintFor(c.req.raw, deps.config.baseDomain),
        facts: c.get("facts"),
      },
    ),
  );

  if (deps.webApp) app.get("*", deps.webApp);

  app.notFound((c) => c.json({ error: "Not found" }, 404));

  app.onError((error, c) => {
    if (error instanceof HTTPException) return c.json({ error: error.message }, error.status);
    const id = c.get("requestId");
    logger.error("unhandled error", { requestId: id, ...loggedError(error) });
    return c.json({ error: `Internal server error (request id ${id})` }, 500);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
