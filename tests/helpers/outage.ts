/**
 * The database going away under load, for the outage tests (PostgreSQL only): the app reaches it
 * through a loopback TCP proxy the test controls (`tcp-proxy.ts`), a load of writes, reads and
 * readiness probes runs, and `expectHonestOutage` checks what every outage must leave true.
 */
import { inArray, sql } from "drizzle-orm";
import { expect } from "vitest";
import { connectPostgres } from "../../db/postgres.js";
import { auditEvents, projects } from "../../db/schema.js";
import { rowsOf } from "../../db/types.js";
import { createTestApp, type TenantHandle, type TestApp } from "./app.js";
import { openTestDatabase, type TestDatabase } from "./db.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

export interface Outcome {
  at: number;
  ms: number;
  status: number;
  retryAfter: string | null;
  code: string | null;
  id: string | null;
  /** The message of an answer that was neither a success nor a 503, to tell what it was. */
  message?: string;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long opening a connection may take in these tests (the server's default). */
export const connectTimeoutMs = 2000;

export interface Outage {
  t: TestApp;
  owner: TenantHandle;
  proxy: TcpProxy;
  close(): Promise<void>;
}

/** A scratch database behind a proxy, the app on a pool through it, and a workspace. */
export async function openOutage(pool: { responseTimeoutMs?: number } = {}): Promise<Outage> {
  const underlying: TestDatabase = await openTestDatabase();
  const url = new URL(underlying.url ?? "");
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.host = `127.0.0.1:${proxy.port}`;
  const database = connectPostgres({ url: url.toString(), poolMax: 10, connectTimeoutMs, ...pool });
  const t = await createTestApp({ db: { ...underlying, database } });
  const owner = await t.registerTenant("Outage");
  return {
    t,
    owner,
    proxy,
    async close() {
      await t.database.close();
      await proxy.close();
      await underlying.close();
    },
  };
}

/**
 * Four writers (projects.create), a reader (projects.list: one-statement reads carry the
 * tenant, the user, the session and the filters as parameters) and a /readyz prober, until
 * `stop()`; a client honouring Retry-After would wait longer, a short pause keeps the load up.
 */
export function startLoad({ t, owner }: Outage) {
  const headers = { authorization: `Bearer ${owner.session.accessToken}`, "content-type": "application/json" };
  const writes: Outcome[] = [];
  const reads: Outcome[] = [];
  const probes: Outcome[] = [];
  const start = performance.now();
  const now = () => performance.now() - start;
  let stopped = false;
  let n = 0;
  const record = async (into: Outcome[], request: () => Response | Promise<Response>) => {
    const at = now();
    const response = await request();
    const body = (await response.json().catch(() => ({}))) as {
      result?: { data: { json: { id?: string } } };
      error?: { json: { message?: string; data: { code: string } } };
    };
    into.push({
      at,
      ms: now() - at,
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      code: body.error?.json.data.code ?? null,
      id: body.result?.data.json.id ?? null,
      ...(response.status !== 200 && response.status !== 503 ? { message: body.error?.json.message ?? "" } : {}),
    });
    return response.status;
  };
  const writer = async () => {
    while (!stopped) {
      const status = await record(writes, () =>
        t.app.request("/trpc/projects.create", {
          method: "POST",
          headers,
          body: JSON.stringify({ json: { name: `p${n++}` } }),
        }),
      );
      if (status !== 200) await sleep(50);
    }
  };
  const reader = async () => {
    while (!stopped) {
      const status = await record(reads, () =>
        t.app.request("/trpc/projects.list?input=%7B%22json%22%3A%7B%7D%7D", { headers }),
      );
      if (status !== 200) await sleep(50);
    }
  };
  const prober = async () => {
    while (!stopped) {
      await record(probes, () => t.app.request("/readyz"));
      await sleep(200);
    }
  };
  const running = Promise.all([writer(), writer(), writer(), writer(), reader(), prober()]);
  return {
    writes,
    reads,
    probes,
    now,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** What every outage must leave true: honest refusals, a bound, readiness, recovery, nothing lost, clean logs. */
export async function expectHonestOutage(
  { t, owner }: Outage,
  load: ReturnType<typeof startLoad>,
  window: { from: number; to: number },
  boundMs: number,
) {
  const requests = [...load.writes, ...load.reads];
  const during = requests.filter((w) => w.at > window.from + 100 && w.at + w.ms < window.to);
  const refused = requests.filter((w) => w.status !== 200);
  const acknowledged = load.writes.filter((w) => w.status === 200).map((w) => w.id as string);
  const firstWriteBack = load.writes.find((w) => w.at > window.to && w.status === 200);
  const firstReadyBack = load.probes.find((p) => p.at > window.to && p.status === 200);
  const slowest = Math.max(...requests.map((w) => w.ms));
  console.log(
    `${requests.length} requests (${acknowledged.length} writes acknowledged, ${refused.length} refused), ` +
      `slowest ${Math.round(slowest)} ms; writes back ${Math.round((firstWriteBack?.at ?? Number.NaN) - window.to)} ms ` +
      `and ready ${Math.round((firstReadyBack?.at ?? Number.NaN) - window.to)} ms after the database`,
  );

  // Requests went through before and after, and failed during the outage: as 503, never 500.
  expect(load.writes.filter((w) => w.at < window.from && w.status === 200).length).toBeGreaterThan(0);
  expect(during.length).toBeGreaterThan(0);
  expect(during.map((w) => w.status).filter((s) => s !== 503)).toEqual([]);
  // Any other refusal, with when it came and what it said (`at` from the start; the outage
  // spans `window`).
  expect(
    refused.filter((w) => w.status !== 503),
    `outage from ${window.from} to ${window.to} ms`,
  ).toEqual([]);
  for (const w of refused) {
    expect(w.code).toBe("SERVICE_UNAVAILABLE");
    expect(Number(w.retryAfter)).toBeGreaterThan(0);
  }
  // No request waited past the bound.
  expect(slowest).toBeLessThan(boundMs);

  // /readyz: 503 within a second during the outage, 200 again after.
  const probesDuring = load.probes.filter((p) => p.at > window.from + 100 && p.at + p.ms < window.to);
  expect(probesDuring.length).toBeGreaterThan(3);
  expect(probesDuring.every((p) => p.status === 503 && p.ms < 1200)).toBe(true);
  expect(load.probes.at(-1)?.status).toBe(200);

  // Recovered without a restart, within 5 s of the database coming back.
  expect((firstWriteBack?.at ?? Number.POSITIVE_INFINITY) - window.to).toBeLessThan(5000);
  expect((firstReadyBack?.at ?? Number.POSITIVE_INFINITY) - window.to).toBeLessThan(5000);

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

  // Nothing the log calls unexpected: the outage is named as what it is. No line carries SQL
  // or a parameter: not the statement, not the member's ids or slug.
  expect(t.logger.entries.filter((e) => e.message === "unexpected error")).toEqual([]);
  // The access log's lines ("request", "slow request") name the verified token's tenant and
  // user by design; no other line may.
  const accessLog = new Set(["request", "slow request"]);
  const failures = t.logger.entries.filter((e) => e.level !== "info" && !accessLog.has(e.message));
  expect(failures.length).toBeGreaterThan(0);
  const secrets = [owner.tenantId, owner.userId, owner.session.refreshToken, owner.slug];
  for (const entry of t.logger.entries) {
    const line = JSON.stringify(entry);
    expect(line).not.toMatch(/\b(select|insert|update|delete)\b|app\.|failed query|params/i);
    for (const value of accessLog.has(entry.message) ? secrets.slice(2) : secrets) expect(line).not.toContain(value);
  }
}
