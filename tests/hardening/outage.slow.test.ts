/**
 * The database goes away under a write load and comes back (PostgreSQL only): the app reaches it
 * through a loopback TCP proxy the test cuts — every open connection closed and new ones refused,
 * as when PostgreSQL stops — and restores. Requests must fail fast and honestly (503 with
 * Retry-After, never 500, none over the bound), /readyz must say so within a second, nothing
 * acknowledged may be lost or half-written, and the server must recover by itself.
 */
import { inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectPostgres } from "../../db/postgres.js";
import { auditEvents, projects } from "../../db/schema.js";
import { rowsOf } from "../../db/types.js";
import { createTestApp, type TenantHandle, type TestApp } from "../helpers/app.js";
import { openTestDatabase, type TestDatabase } from "../helpers/db.js";
import { testEngine } from "../helpers/engine.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

const connectTimeoutMs = 2000;
// The bound a request may take while the database is away: the connect bound, plus slack for
// this shared 2-core machine.
const requestBoundMs = connectTimeoutMs + 1500;

const direct = testEngine === "postgres" && !process.env.BULKHEAD_TEST_PGBOUNCER;

describe.skipIf(!direct)("a database outage under write load", () => {
  let underlying: TestDatabase;
  let proxy: TcpProxy;
  let t: TestApp;
  let owner: TenantHandle;

  beforeAll(async () => {
    underlying = await openTestDatabase();
    const url = new URL(underlying.url ?? "");
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.host = `127.0.0.1:${proxy.port}`;
    const database = connectPostgres({ url: url.toString(), poolMax: 10, connectTimeoutMs });
    t = await createTestApp({ db: { ...underlying, database } });
    owner = await t.registerTenant("Outage");
  });
  afterAll(async () => {
    await t?.database.close();
    await proxy?.close();
    await underlying?.close();
  });

  it("fails fast with 503, answers /readyz within a second, loses nothing, and recovers alone", async () => {
    const headers = { authorization: `Bearer ${owner.session.accessToken}`, "content-type": "application/json" };
    interface Outcome {
      at: number;
      ms: number;
      status: number;
      retryAfter: string | null;
      code: string | null;
      id: string | null;
    }
    const writes: Outcome[] = [];
    const probes: Outcome[] = [];
    const start = performance.now();
    const now = () => performance.now() - start;
    let stop = false;
    let n = 0;

    const writer = async () => {
      while (!stop) {
        const at = now();
        const response = await t.app.request("/trpc/projects.create", {
          method: "POST",
          headers,
          body: JSON.stringify({ json: { name: `p${n++}` } }),
        });
        const body = (await response.json()) as {
          result?: { data: { json: { id: string } } };
          error?: { json: { data: { code: string } } };
        };
        writes.push({
          at,
          ms: now() - at,
          status: response.status,
          retryAfter: response.headers.get("retry-after"),
          code: body.error?.json.data.code ?? null,
          id: body.result?.data.json.id ?? null,
        });
        // A client honouring Retry-After would wait longer; a short pause keeps the load up.
        if (response.status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const prober = async () => {
      while (!stop) {
        const at = now();
        const response = await t.app.request("/readyz");
        probes.push({ at, ms: now() - at, status: response.status, retryAfter: null, code: null, id: null });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    // A reader: one-statement reads (`app.read`) carry the tenant, the user, the session and the
    // filters as parameters, what the log must never show when their connection fails.
    const reads: number[] = [];
    const reader = async () => {
      while (!stop) {
        const response = await t.app.request("/trpc/projects.list?input=%7B%22json%22%3A%7B%7D%7D", { headers });
        reads.push(response.status);
        await response.arrayBuffer();
        if (response.status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const load = Promise.all([writer(), writer(), writer(), writer(), reader(), prober()]);

    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    await sleep(1500);
    const cutAt = now();
    await proxy.cut();
    await sleep(6000);
    const restoredAt = now();
    await proxy.restore();
    await sleep(6000);
    stop = true;
    await load;

    const during = writes.filter((w) => w.at > cutAt + 100 && w.at + w.ms < restoredAt);
    const refused = writes.filter((w) => w.status !== 200);
    const acknowledged = writes.filter((w) => w.status === 200).map((w) => w.id as string);
    const firstWriteBack = writes.find((w) => w.at > restoredAt && w.status === 200);
    const firstReadyBack = probes.find((p) => p.at > restoredAt && p.status === 200);
    console.log(
      `outage: ${writes.length} writes (${acknowledged.length} acknowledged, ${refused.length} refused), ` +
        `slowest ${Math.round(Math.max(...writes.map((w) => w.ms)))} ms; ` +
        `writes back ${Math.round((firstWriteBack?.at ?? Number.NaN) - restoredAt)} ms and ready ` +
        `${Math.round((firstReadyBack?.at ?? Number.NaN) - restoredAt)} ms after the database`,
    );

    // Writes went through before and after, and failed during the cut: as 503, never 500.
    expect(writes.filter((w) => w.at < cutAt && w.status === 200).length).toBeGreaterThan(0);
    expect(during.length).toBeGreaterThan(0);
    expect(during.map((w) => w.status).filter((s) => s !== 503)).toEqual([]);
    expect(new Set(refused.map((w) => w.status))).toEqual(new Set([503]));
    for (const w of refused) {
      expect(w.code).toBe("SERVICE_UNAVAILABLE");
      expect(Number(w.retryAfter)).toBeGreaterThan(0);
    }
    // No request waited past the bound.
    expect(Math.max(...writes.map((w) => w.ms))).toBeLessThan(requestBoundMs);

    // /readyz: 503 within a second during the cut, 200 again after.
    const probesDuring = probes.filter((p) => p.at > cutAt + 100 && p.at + p.ms < restoredAt);
    expect(probesDuring.length).toBeGreaterThan(3);
    expect(probesDuring.every((p) => p.status === 503 && p.ms < 1200)).toBe(true);
    expect(probes.at(-1)?.status).toBe(200);

    // Recovered without a restart, within 5 s of the database coming back.
    expect(firstWriteBack).toBeDefined();
    expect((firstWriteBack?.at ?? Number.POSITIVE_INFINITY) - restoredAt).toBeLessThan(5000);
    expect((firstReadyBack?.at ?? Number.POSITIVE_INFINITY) - restoredAt).toBeLessThan(5000);

    // Every acknowledged write is there, and nothing is half-written: every project that exists
    // has the audit event its transaction wrote with it.
    const stored = await t.admin.select({ id: projects.id }).from(projects).where(inArray(projects.id, acknowledged));
    expect(stored.length).toBe(acknowledged.length);
    const orphans = rowsOf<{ n: number }>(
      await t.admin.execute(sql`
        select count(*)::int as n from ${projects} p
         where p.tenant_id = ${owner.tenantId}
           and not exists (select 1 from ${auditEvents} e where e.target_id = p.id and e.action = 'project.created')`),
    );
    expect(orphans[0]?.n).toBe(0);
    // Nothing the log calls unexpected: the outage is named as what it is.
    expect(t.logger.entries.filter((e) => e.message === "unexpected error")).toEqual([]);
    // Reads failed during the cut as 503 too, and were logged as what they are.
    expect(new Set(reads.filter((status) => status !== 200))).toEqual(new Set([503]));
    const failures = t.logger.entries.filter((e) => e.level !== "info");
    expect(failures.length).toBeGreaterThan(0);
    // No line carries SQL or a parameter: not the statement, not the member's ids or slug.
    const secrets = [owner.tenantId, owner.userId, owner.session.refreshToken, owner.slug];
    for (const entry of t.logger.entries) {
      const line = JSON.stringify(entry);
      expect(line).not.toMatch(/\b(select|insert|update|delete)\b|app\.|failed query|params/i);
      for (const value of failures.includes(entry) ? secrets : secrets.slice(2)) expect(line).not.toContain(value);
    }
  }, 60_000);
});
