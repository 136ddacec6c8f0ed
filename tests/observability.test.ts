/**
 * The access log and /metrics: one JSON line per request with who, what, outcome, time and
 * size — never a token, a password or an input — and Prometheus counters that move with the
 * requests, scraped and parsed here. Tenant ids never become labels.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../server/app.js";
import type { Logger } from "../server/deps.js";
import { accessLog, type RequestFacts } from "../server/observability/access-log.js";
import { createMetrics } from "../server/observability/metrics.js";
import { responseSent } from "../server/observability/node.js";
import {
  createTestApp,
  fastHasher,
  password,
  RecordingLogger,
  type TenantHandle,
  type TestApp,
} from "./helpers/app.js";

const metricsToken = "scrape-token-0123456789abcdef";
let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;
beforeAll(async () => {
  t = await createTestApp({ metrics: true, env: { METRICS_TOKEN: metricsToken, LOGIN_MAX_FAILURES: "2" } });
  a = await t.registerTenant("Logged");
  b = await t.registerTenant("Other");
});
afterAll(() => t.close());

const requestLines = () => t.logger.entries.filter((e) => e.message === "request");

describe("the access log", () => {
  it("writes one line per request, with its id, procedures, caller, outcome, time and size", async () => {
    const before = requestLines().length;
    const secretName = "project-name-that-must-not-be-logged";
    const created = await t.app.request("/trpc/projects.create", {
      method: "POST",
      headers: { authorization: `Bearer ${a.session.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({ json: { name: secretName } }),
    });
    expect(created.status).toBe(200);
    // A batch: one call succeeds, one is refused.
    const input = encodeURIComponent(
      JSON.stringify({ 0: { json: {} }, 1: { json: { id: "00000000-0000-4000-8000-000000000000" } } }),
    );
    const batch = await t.app.request(`/trpc/projects.list,projects.get?batch=1&input=${input}`, {
      headers: { authorization: `Bearer ${a.session.accessToken}` },
    });
    expect(batch.status).toBe(207);
    await t.app.request("/healthz");
    await t.app.request("/no/such/route");

    const lines = requestLines().slice(before);
    expect(lines).toHaveLength(4);
    const [create, listed, health, missing] = lines.map((line) => line.fields ?? {});
    expect(create).toMatchObject({
      requestId: created.headers.get("x-request-id"),
      method: "POST",
      path: "/trpc",
      procedures: ["projects.create"],
      tenantId: a.tenantId,
      userId: a.userId,
      status: 200,
    });
    expect(typeof create?.durationMs).toBe("number");
    expect(create?.codes).toBeUndefined();
    expect(listed).toMatchObject({
      procedures: ["projects.list", "projects.get"],
      status: 207,
      codes: ["OK", "NOT_FOUND"],
    });
    expect(health).toMatchObject({ method: "GET", path: "/healthz", status: 200 });
    expect(missing).toMatchObject({ path: "/no/such/route", status: 404, codes: ["HTTP_404"] });
    expect(missing?.tenantId).toBeUndefined();

    // Nothing secret: no token, no password, no input, no query string.
    const logged = JSON.stringify(t.logger.entries);
    for (const secret of [a.session.accessToken, a.session.refreshToken, password, secretName, "batch=1"]) {
      expect(logged).not.toContain(secret);
    }
  });

  it("on Node, waits for the response to be sent: its size and time to the last byte", async () => {
    const logger = new RecordingLogger();
    const app = createApp({
      database: t.database,
      config: t.config,
      hasher: fastHasher,
      logger,
      whenSent: responseSent,
    });
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const input = encodeURIComponent(JSON.stringify({ json: {} }));
      const response = await fetch(`http://127.0.0.1:${port}/trpc/projects.list?input=${input}`, {
        headers: { authorization: `Bearer ${a.session.accessToken}` },
      });
      const body = await response.text();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const [line] = logger.entries.filter((e) => e.message === "request");
      expect(line?.fields).toMatchObject({ procedures: ["projects.list"], tenantId: a.tenantId, status: 200 });
      // The body and the headers: more than the body alone, less than a kilobyte more.
      expect(line?.fields?.bytes).toBeGreaterThan(Buffer.byteLength(body));
      expect(line?.fields?.bytes).toBeLessThan(Buffer.byteLength(body) + 1024);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("names procedures the router does not have 'unknown', whatever the URL says", async () => {
    const before = requestLines().length;
    await t.app.request(`/trpc/${"x".repeat(300)},projects.list,${encodeURIComponent("<script>")}`);
    const [line] = requestLines().slice(before);
    expect(line?.fields?.procedures).toEqual(["unknown", "projects.list", "unknown"]);
  });

  it("logs a slow request again, as a warning", async () => {
    const slow = await createTestApp({ db: t.db, env: { SLOW_REQUEST_MS: "1" } });
    await slow.registerTenant("Slow");
    const warning = slow.logger.entries.find((e) => e.message === "slow request");
    expect(warning?.level).toBe("warn");
    expect(warning?.fields).toMatchObject({ procedures: ["auth.registerTenant"], slowRequestMs: 1 });
  });

  it("names the busiest tenants once a window, without a line per tenant", async () => {
    const logger = new RecordingLogger();
    const app = new Hono<{ Variables: { requestId: string; facts: RequestFacts } }>();
    app.use((c, next) => {
      c.set("requestId", "r");
      return next();
    });
    app.use(
      accessLog({
        logger: logger as Logger,
        procedures: new Set(),
        slowRequestMs: 10_000,
        noisyWindowMs: 40,
        noisyTop: 2,
      }),
    );
    app.get("/as/:tenant", (c) => {
      c.get("facts").tenantId = c.req.param("tenant");
      return c.text("ok");
    });
    for (const tenant of ["t1", "t2", "t1", "t3", "t1", "t2"]) await app.request(`/as/${tenant}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await app.request("/as/t4");
    const busiest = logger.entries.filter((e) => e.message === "busiest tenants");
    expect(busiest).toHaveLength(1);
    expect(busiest[0]?.fields?.tenants).toEqual([
      expect.objectContaining({ tenantId: "t1", requests: 3 }),
      expect.objectContaining({ tenantId: "t2", requests: 2 }),
    ]);
  });
});

/** The samples of a Prometheus text exposition: `name{labels} value`, by name and label set. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)$/.exec(line);
    if (match) samples.set(`${match[1]}${match[2] ?? ""}`, Number(match[3]));
  }
  return samples;
}

async function scrape(): Promise<Map<string, number>> {
  const response = await t.app.request("/metrics", { headers: { authorization: `Bearer ${metricsToken}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
  return parseMetrics(await response.text());
}

describe("/metrics", () => {
  it("answers only the METRICS_TOKEN bearer", async () => {
    expect((await t.app.request("/metrics")).status).toBe(401);
    const wrong = await t.app.request("/metrics", { headers: { authorization: `Bearer ${metricsToken}x` } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain("bulkhead_");
    // Without a token configured, there is no /metrics on the API's port at all.
    const closed = await createTestApp({ db: t.db, metrics: true });
    expect(
      (await closed.app.request("/metrics", { headers: { authorization: `Bearer ${metricsToken}` } })).status,
    ).toBe(404);
  });

  it("counts requests by procedure and code, sign-ins by outcome, and the database's work", async () => {
    const before = await scrape();
    const count = (samples: Map<string, number>, key: string) => samples.get(key) ?? 0;

    await a.client.projects.create.mutate({ name: "counted" });
    await a.client.projects.create.mutate({ name: "counted too" });
    await expect(a.client.projects.get.query({ id: "00000000-0000-4000-8000-000000000000" })).rejects.toThrow();
    const login = (pw: string) =>
      t.client().auth.login.mutate({ tenantSlug: b.slug, email: `owner@${b.slug}.test`, password: pw });
    await login(password);
    await expect(login("not the password at all")).rejects.toThrow();
    await expect(login("not the password at all")).rejects.toThrow();
    await expect(login("not the password at all")).rejects.toThrow(); // the third: throttled

    const after = await scrape();
    const created = 'bulkhead_requests_total{procedure="projects.create",code="OK"}';
    expect(count(after, created) - count(before, created)).toBe(2);
    const missing = 'bulkhead_requests_total{procedure="projects.get",code="NOT_FOUND"}';
    expect(count(after, missing) - count(before, missing)).toBe(1);
    const latency = 'bulkhead_request_duration_seconds_count{procedure="projects.create",code="OK"}';
    expect(count(after, latency) - count(before, latency)).toBe(2);
    for (const [outcome, moved] of [
      ["ok", 1],
      ["failed", 2],
      ["throttled", 1],
    ] as const) {
      const key = `bulkhead_logins_total{outcome="${outcome}"}`;
      expect(count(after, key) - count(before, key), outcome).toBe(moved);
    }
    const committed = 'bulkhead_db_transaction_duration_seconds_count{outcome="commit"}';
    expect(count(after, committed) - count(before, committed)).toBeGreaterThanOrEqual(3);
    expect(after.get("bulkhead_db_pool_size")).toBeGreaterThanOrEqual(1);
    expect(after.get("bulkhead_db_pool_in_use")).toBe(0);
    expect(after.get("bulkhead_db_pool_waiting")).toBe(0);
    // Every registration queued a verification mail, and no dispatcher runs here.
    expect(after.get("bulkhead_outbox_pending")).toBeGreaterThanOrEqual(2);
    expect(
      after.has("bulkhead_process_resident_memory_bytes") || after.has("bulkhead_nodejs_heap_size_used_bytes"),
    ).toBe(true);
  });

  it("reads the outbox backlog on the jobs' pool, never the requests' (a query across every tenant)", async () => {
    // The requests' database refuses everything; the jobs' answers: the backlog comes from it.
    const refusing = {
      ...t.db.database,
      db: new Proxy(t.db.database.db, {
        get: (target, key, receiver) =>
          key === "execute"
            ? () => Promise.reject(new Error("the requests' pool was asked"))
            : Reflect.get(target, key, receiver),
      }),
    };
    const metrics = createMetrics(refusing, t.db.database);
    const samples = parseMetrics(await (await metrics.response()).text());
    expect(samples.get("bulkhead_outbox_pending")).toBeGreaterThanOrEqual(2);
  });

  it("never labels anything with a tenant or a user", async () => {
    const response = await t.app.request("/metrics", { headers: { authorization: `Bearer ${metricsToken}` } });
    const text = await response.text();
    for (const id of [a.tenantId, a.userId, b.tenantId, b.userId, a.slug]) expect(text).not.toContain(id);
  });
});
