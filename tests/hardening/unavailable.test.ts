/**
 * When the database cannot be reached, requests fail fast and say so: 503 SERVICE_UNAVAILABLE
 * with Retry-After, never a 500 or a hang. Runs on every engine against a real postgres.js pool
 * aimed at a loopback port nobody listens on (the outage under load, cut and restored, is
 * tests/hardening/outage.slow.test.ts on PostgreSQL).
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectPostgres } from "../../db/postgres.js";
import type { Database } from "../../db/types.js";
import { createApp } from "../../server/app.js";
import { createTestApp, fastHasher, RecordingLogger, type TenantHandle, type TestApp } from "../helpers/app.js";

/** A loopback port that refuses connections: bound once, then closed. */
async function refusingPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

let t: TestApp;
let a: TenantHandle;
let dead: Database;
let logger: RecordingLogger;
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  t = await createTestApp();
  a = await t.registerTenant("Unreachable");
  dead = connectPostgres({
    url: `postgres://bulkhead_app@127.0.0.1:${await refusingPort()}/none`,
    poolMax: 1,
    connectTimeoutMs: 1000,
  });
  logger = new RecordingLogger();
  // The same configuration and signing key as `t`: a's access token verifies here.
  app = createApp({ database: dead, config: t.config, hasher: fastHasher, logger, clock: t.clock });
});
afterAll(async () => {
  await dead.close();
  await t.close();
});

const createProject = () =>
  app.request("/trpc/projects.create", {
    method: "POST",
    headers: { authorization: `Bearer ${a.session.accessToken}`, "content-type": "application/json" },
    body: JSON.stringify({ json: { name: "never stored" } }),
  });

describe("the database is unreachable", () => {
  it("a write answers 503 SERVICE_UNAVAILABLE with Retry-After, and the log names the outage", async () => {
    const response = await createProject();
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = (await response.json()) as { error: { json: { message: string; data: { code: string } } } };
    expect(body.error.json.data.code).toBe("SERVICE_UNAVAILABLE");
    expect(body.error.json.message).toMatch(/database is unavailable/);
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|bulkhead_app/);
    expect(logger.entries.map((e) => e.message)).toContain("database unavailable");
    expect(logger.entries.map((e) => e.message)).not.toContain("unexpected error");
  });

  it("a sign-in, a read and an export answer 503 too", async () => {
    const login = await app.request("/trpc/auth.login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ json: { tenantSlug: a.slug, email: "x@example.com", password: "whatever it is" } }),
    });
    expect(login.status).toBe(503);
    const list = await app.request(`/trpc/projects.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`, {
      headers: { authorization: `Bearer ${a.session.accessToken}` },
    });
    expect(list.status).toBe(503);
    const exported = await app.request("/export", { headers: { authorization: `Bearer ${a.session.accessToken}` } });
    expect(exported.status).toBe(503);
    expect(Number(exported.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("requests keep failing fast: the driver's pause between attempts stays short", async () => {
    // postgres.js's own backoff grows with every failed attempt, to 20 s; queued requests waited it.
    const slowest = [];
    for (let i = 0; i < 8; i++) {
      const started = performance.now();
      expect((await createProject()).status).toBe(503);
      slowest.push(performance.now() - started);
    }
    expect(Math.max(...slowest)).toBeLessThan(1500);
  });

  it("/readyz answers 503 within a second when the database does not answer at all", async () => {
    const hanging = createApp({
      database: { ...dead, db: { execute: () => new Promise(() => {}) } as unknown as Database["db"] },
      config: t.config,
      hasher: fastHasher,
      logger: new RecordingLogger(),
    });
    const started = performance.now();
    const ready = await hanging.request("/readyz");
    expect(ready.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(1500);
    expect((await app.request("/readyz")).status).toBe(503);
  });
});
