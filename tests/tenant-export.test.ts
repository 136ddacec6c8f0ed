/**
 * `GET /export` and `tenant.export`: the owner gets every row of the tenant — counted per table
 * against the database — and nothing of another tenant, while that tenant writes; one snapshot
 * for the whole file; no secrets; refused to anyone but the owner; tickets that are only tickets.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comments } from "../db/schema.js";
import { withTenant } from "../db/tenant.js";
import { rowsOf } from "../db/types.js";
import { spendOnce } from "../server/auth/throttle.js";
import { exportFormat, exportSchemaVersion, tenantExportLines } from "../server/tenant/export.js";
import { readSnapshot } from "../server/tenant/export-route.js";
import { codeOf, createTestApp, createTwoTenants, sessionOf, type TenantHandle, type TestApp } from "./helpers/app.js";
import { testEngine } from "./helpers/engine.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
  for (const who of [a, b]) {
    await t.addMember(who, "admin");
    await who.client.members.invite.mutate({ email: `pending@${who.slug}.test`, role: "member" });
    for (let p = 0; p < 3; p++) {
      const project = await who.client.projects.create.mutate({ name: `P${p}`, description: "about it" });
      for (let i = 0; i < 4; i++) {
        const task = await who.client.tasks.create.mutate({ projectId: project.id, title: `T${i}` });
        await who.client.comments.create.mutate({ taskId: task.id, body: `on ${task.id}` });
      }
    }
  }
});
afterAll(() => t.close());

interface Line {
  type: string;
  row?: Record<string, unknown>;
  [key: string]: unknown;
}

const parse = (text: string): Line[] =>
  text
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as Line);

const download = (headers: Record<string, string>, path = "/export") => t.app.request(path, { headers });
const asOwner = (who: TenantHandle) => ({ authorization: `Bearer ${who.session.accessToken}` });

/** The tenant's rows per table, counted by the superuser (no RLS). */
async function countsOf(tenantId: string): Promise<Record<string, number>> {
  const count = async (table: string, column = "tenant_id") =>
    rowsOf<{ n: number }>(
      await t.admin.execute(sql.raw(`select count(*)::int as n from ${table} where ${column} = '${tenantId}'`)),
    )[0]?.n ?? -1;
  return {
    tenant: await count("tenants", "id"),
    user: await count("users"),
    project: await count("projects"),
    task: await count("tasks"),
    comment: await count("comments"),
    invitation: await count("invitations"),
    audit_event: await count("audit_events"),
  };
}

describe("GET /export", () => {
  it("streams every row of the owner's tenant, counted per table, and none of another's, while it writes", async () => {
    let writing = true;
    const other = (async () => {
      let n = 0;
      while (writing && n < 200) await b.client.projects.create.mutate({ name: `during ${n++}` });
    })();
    const response = await download(asOwner(a));
    const text = await response.text();
    writing = false;
    await other;

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    expect(response.headers.get("content-disposition")).toMatch(new RegExp(`attachment; filename="${a.slug}-export-`));
    const lines = parse(text);
    const [header] = lines;
    expect(header).toMatchObject({
      type: "header",
      format: exportFormat,
      schemaVersion: exportSchemaVersion,
      tenantId: a.tenantId,
    });
    expect(Number.isNaN(Date.parse(String(header?.snapshotAt)))).toBe(false);
    const end = lines.at(-1);
    expect(end?.type).toBe("end");

    const rows = lines.filter((line) => line.row);
    const byType: Record<string, number> = {};
    for (const line of rows) byType[line.type] = (byType[line.type] ?? 0) + 1;
    // Exactly the tenant's rows, as the database has them (A did not write meanwhile).
    expect(byType).toEqual(await countsOf(a.tenantId));
    expect(end?.counts).toEqual(byType);
    expect(byType.task).toBe(12);
    expect(byType.comment).toBe(12);
    expect(byType.user).toBe(2);

    // Nothing of B, and no secrets.
    for (const line of rows) {
      const owner = line.type === "tenant" ? line.row?.id : line.row?.tenant_id;
      expect(owner).toBe(a.tenantId);
    }
    expect(text).not.toContain(b.tenantId);
    expect(text).not.toContain(b.slug);
    expect(text).not.toMatch(/passwordHash|password_hash|tokenHash|token_hash|\$argon2/);
    // The export itself is in the audit trail, and in the export.
    const audited = rows.filter((line) => line.type === "audit_event" && line.row?.action === "tenant.exported");
    expect(audited).toHaveLength(1);
  });

  // PGlite has one connection: nothing can commit while the export's transaction is open.
  it.skipIf(testEngine === "pglite")("reads one snapshot: rows committed while it streams are not in it", async () => {
    await withTenant(
      t.database.db,
      { tenantId: a.tenantId, userId: a.userId },
      async (tx) => {
        const before = (await countsOf(a.tenantId)).project ?? 0;
        let seen = 0;
        let inserted = false;
        for await (const chunk of tenantExportLines(tx, a.tenantId, { batchSize: 2 })) {
          seen += chunk.split("\n").filter((line) => line.includes('"type":"project"')).length;
          if (!inserted && chunk.includes('"type":"user"')) {
            // Another transaction commits a project of A mid-export.
            await a.client.projects.create.mutate({ name: "committed during the export" });
            inserted = true;
          }
        }
        expect(inserted).toBe(true);
        expect(seen).toBe(before);
        expect((await countsOf(a.tenantId)).project).toBe(before + 1);
      },
      { isolation: "repeatable read" },
    );
  });

  it("refuses an export outside REPEATABLE READ rather than mix snapshots", async () => {
    await expect(
      withTenant(t.database.db, { tenantId: a.tenantId, userId: a.userId }, async (tx) => {
        for await (const _ of tenantExportLines(tx, a.tenantId)) break;
      }),
    ).rejects.toThrow(/REPEATABLE READ/);
  });

  it("is the owner's alone: 401 without credentials, 403 for an admin or a member", async () => {
    expect((await download({})).status).toBe(401);
    expect((await download({ authorization: "Bearer nonsense" })).status).toBe(401);
    const admin = await t.addMember(a, "admin");
    const member = await t.addMember(a, "member");
    for (const who of [admin, member]) {
      const refused = await download(asOwner(who));
      expect(refused.status).toBe(403);
      expect(await refused.text()).not.toContain('"type":"header"');
    }
    // A's owner naming tenant B (X-Tenant) is refused too.
    expect((await download({ ...asOwner(a), "x-tenant": b.slug })).status).toBe(403);
  });
});

describe("tenant.export", () => {
  it("gives the owner a one-minute link a browser can follow without a header", async () => {
    const link = await a.client.tenant.export.query();
    expect(link.url).toMatch(/^\/export\?ticket=/);
    expect(link.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(61_000);
    const response = await download({}, link.url);
    expect(response.status).toBe(200);
    expect(parse(await response.text())[0]).toMatchObject({ type: "header", tenantId: a.tenantId });
    // A link may leak (history, a proxy's log): it works once.
    expect((await download({}, link.url)).status).toBe(401);
  });

  it("spends a ticket once when it is used at the same moment from two server instances", async () => {
    // Each instance lets one export of a workspace run; the ticket is what both race for.
    const other = await createTestApp({ db: t.db });
    // A workspace of its own: no export of another test may hold its slots.
    const raced = await t.registerTenant("Raced");
    const { url } = await raced.client.tenant.export.query();
    const statuses = await Promise.all(
      [t, other, t, other].map(async (app) => {
        const response = await app.app.request(url);
        await response.arrayBuffer();
        return response.status;
      }),
    );
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status !== 200 && status !== 401 && status !== 429)).toEqual([]);
    // The throttle row under it, raced 20 times: one spend wins.
    const what = `race-${crypto.randomUUID()}`;
    const spent = await Promise.all(Array.from({ length: 20 }, () => spendOnce(t.database.db, what, 60)));
    expect(spent.filter(Boolean)).toHaveLength(1);
  });

  it("is for owners; a ticket is no access token, an access token no ticket, and a ticket expires", async () => {
    const admin = await t.addMember(a, "admin");
    expect(await codeOf(admin.client.tenant.export.query())).toBe("FORBIDDEN");
    const { url } = await a.client.tenant.export.query();
    const ticket = decodeURIComponent(url.split("ticket=")[1] ?? "");
    const asAccess = await t.app.request("/trpc/tenant.get", { headers: { authorization: `Bearer ${ticket}` } });
    expect(asAccess.status).toBe(401);
    expect((await download({}, `/export?ticket=${encodeURIComponent(a.session.accessToken)}`)).status).toBe(401);
    t.clock.advance(61_000 + 5_000);
    try {
      expect((await download({}, url)).status).toBe(401);
    } finally {
      t.clock.advance(-66_000);
    }
  });
});

describe("a client that does not read, or reads slowly", () => {
  /** A tenant of ~600 KB: 300 comments of 2 KB. */
  async function largeTenant(name: string) {
    const big = await t.registerTenant(name);
    const project = await big.client.projects.create.mutate({ name: "Big" });
    const task = await big.client.tasks.create.mutate({ projectId: project.id, title: "Talkative" });
    const body = "x".repeat(2048);
    await t.admin
      .insert(comments)
      .values(
        Array.from({ length: 300 }, () => ({ tenantId: big.tenantId, taskId: task.id, authorId: big.userId, body })),
      );
    return big;
  }

  /** Reads a response's body at `bytesPerSecond`; what arrived, and when the body ended. */
  async function readSlowly(response: Response, bytesPerSecond: number) {
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const parts: Uint8Array[] = [];
    try {
      for (let i = 0; i < 10_000; i++) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        await new Promise((resolve) => setTimeout(resolve, (value.byteLength / bytesPerSecond) * 1000));
      }
    } catch {
      // An export cut off errors the stream: what arrived is what the client has.
    }
    return Buffer.concat(parts).toString("utf8");
  }

  it("cannot hold the database: HEAD is refused, a stalled export ends, one per tenant and two at once", async () => {
    const slow = await createTestApp({ db: t.db, env: { EXPORT_STALL_SECONDS: "1" } });
    const [x, y, z] = [await largeTenant("Xi"), await largeTenant("Upsilon"), await largeTenant("Zeta")];
    const head = await slow.app.request("/export", { method: "HEAD", headers: asOwner(x) });
    expect(head.status).toBe(405);

    // Exports whose bodies nobody reads: one of X's runs and its second waits its turn; Y's runs
    // beside it; Z's finds both slots taken.
    const exportOf = (who: TenantHandle) => slow.app.request("/export", { headers: asOwner(who) });
    const twice = await Promise.all([exportOf(x), exportOf(x)]);
    expect(twice.map((r) => r.status).sort()).toEqual([200, 429]);
    expect(twice.find((r) => r.status === 429)?.headers.get("retry-after")).toBe("60");
    expect((await exportOf(y)).status).toBe(200);
    const full = await exportOf(z);
    expect(full.status).toBe(429);
    expect(full.headers.get("retry-after")).toBe("60");

    // Within a couple of stall periods both have let go: the database answers, exports run again.
    const started = performance.now();
    expect((await a.client.projects.list.query({})).items.length).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(5000);
    let again: Response | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      again = await exportOf(z);
      if (again.status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(again?.status).toBe(200);
    expect(parse((await again?.text()) ?? "").at(-1)?.type).toBe("end");
    // Z ran once either slot was free; the other stalled export ends within its own stall period.
    await expect
      .poll(() => slow.logger.entries.filter((e) => e.message === "export ended early").length, { timeout: 5000 })
      .toBe(2);
  }, 20_000);

  /** Another tenant's calls, one after another, until `until` settles; their latencies in ms. */
  async function latenciesWhile(who: TenantHandle, until: Promise<unknown>) {
    let done = false;
    void until.finally(() => {
      done = true;
    });
    const latencies: number[] = [];
    for (let i = 0; i < 2_000 && !done; i++) {
      const started = performance.now();
      await who.client.projects.list.query({});
      latencies.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return latencies.sort((x, y) => x - y);
  }

  it("ends an export read below the least rate, while another tenant's p99 stays under 500 ms", async () => {
    const big = await largeTenant("Slow reader");
    const paced = await createTestApp({
      db: t.db,
      env: { EXPORT_STALL_SECONDS: "1", EXPORT_MIN_BYTES_PER_SECOND: "200000" },
    });
    const response = await paced.app.request("/export", { headers: asOwner(big) });
    expect(response.status).toBe(200);
    const reading = readSlowly(response, 50_000);
    const latencies = await latenciesWhile(b, reading);
    const text = await reading;
    expect(text).not.toContain('"type":"end"');
    expect(latencies.length).toBeGreaterThan(5);
    expect(latencies[Math.floor(latencies.length * 0.99)]).toBeLessThan(500);
    const ended = paced.logger.entries.find((e) => e.message === "export ended early");
    expect(JSON.stringify(ended?.fields)).toContain("under 200000 bytes a second");
  });

  it("ends an export past EXPORT_MAX_SECONDS however it is read", async () => {
    const big = await largeTenant("Long reader");
    const capped = await createTestApp({
      db: t.db,
      env: { EXPORT_STALL_SECONDS: "5", EXPORT_MAX_SECONDS: "1", EXPORT_MIN_BYTES_PER_SECOND: "1" },
    });
    const started = performance.now();
    const text = await readSlowly(await capped.app.request("/export", { headers: asOwner(big) }), 100_000);
    expect(performance.now() - started).toBeLessThan(4000);
    expect(text).not.toContain('"type":"end"');
    const ended = capped.logger.entries.find((e) => e.message === "export ended early");
    expect(JSON.stringify(ended?.fields)).toContain("ran past 1 s");
  });

  it.skipIf(testEngine !== "postgres")(
    "has PostgreSQL end the export's transaction if it sits idle past twice the stall bound",
    async () => {
      const member = {
        tenantId: a.tenantId,
        userId: a.userId,
        sessionId: sessionOf(a),
        tenantSlug: null,
        statementTimeoutMs: 5000,
      };
      const limits = { ...t.config.export, stallMs: 500 };
      const idle = readSnapshot(t.database, member, limits, () => new Promise((resolve) => setTimeout(resolve, 2500)));
      await expect(idle).rejects.toThrow();
      // The pool replaces the connection PostgreSQL closed.
      expect((await a.client.projects.list.query({})).items.length).toBeGreaterThan(0);
    },
  );
});
