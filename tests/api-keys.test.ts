/**
 * Workspace API keys: made once and stored as a hash, a principal of their own in the member path
 * (`app.enter_member`), confined to their tenant, refused on their next request once revoked or
 * expired, read-only keys refused every mutation of the router, no key managing keys, members or
 * the workspace, the audit trail naming the key, a removed creator leaving the key working, and
 * the per-key budget shared by two servers (60 parallel requests on PostgreSQL).
 */
import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../db/types.js";
import { readOnlyKeyMessage } from "../server/errors.js";
import { appRouter } from "../server/routers/_app.js";
import { codeOf, createTestApp, type TenantHandle, type TestApp } from "./helpers/app.js";
import { watch } from "./helpers/events.js";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  t = await createTestApp({ peerAddress: "203.0.113.40" });
  a = await t.registerTenant("Alpha");
  b = await t.registerTenant("Beta");
});
afterAll(() => t.close());

const one = async <T>(query: ReturnType<typeof sql>) => rowsOf<T>(await t.admin.execute(query))[0] as T;

async function makeKey(
  owner: TenantHandle,
  input: { role?: "admin" | "member"; readOnly?: boolean; name?: string } = {},
) {
  return owner.client.apiKeys.create.mutate({ name: input.name ?? "CI", role: input.role ?? "member", ...input });
}

/** POSTs one tRPC mutation with `input` (superjson's envelope) as `credential`: its status and message. */
async function call(path: string, credential: string, input: unknown = {}, type: "query" | "mutation" = "mutation") {
  const headers = { authorization: `Bearer ${credential}`, "content-type": "application/json" };
  const response =
    type === "mutation"
      ? await t.fetch(`http://bulkhead.test/trpc/${path}`, {
          method: "POST",
          headers,
          body: JSON.stringify({ json: input }),
        })
      : await t.fetch(
          `http://bulkhead.test/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`,
          {
            headers,
          },
        );
  const body = (await response.json()) as { error?: { json: { message: string; data: { code: string } } } };
  return {
    status: response.status,
    code: body.error?.json.data.code ?? null,
    message: body.error?.json.message ?? null,
  };
}

const personOnly = (path: string) => `An API key cannot call ${path}: it needs a person signed in`;

describe("API keys", () => {
  it("shows the key once, stores only a SHA-256 of its 256-bit secret, and lists it without either", async () => {
    const made = await makeKey(a, { name: "Nightly sync" });
    expect(made.key).toMatch(/^bhk_[0-9a-f]{64}_[A-Za-z0-9_-]{43}$/);
    const secret = made.key.slice("bhk_".length + 64 + 1);
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
    const row = await one<Record<string, unknown>>(sql`select * from api_keys where id = ${made.id}::uuid`);
    expect(row.secret_hash).toBe(createHash("sha256").update(secret).digest("hex"));
    expect(JSON.stringify(row)).not.toContain(secret);
    const listed = (await a.client.apiKeys.list.query({})).items.find((key) => key.id === made.id);
    expect(listed).toMatchObject({
      name: "Nightly sync",
      prefix: made.key.slice(0, 12),
      role: "member",
      readOnly: false,
    });
    expect(listed?.createdBy).toMatchObject({ id: a.userId, removed: false });
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(JSON.stringify(listed)).not.toContain(row.secret_hash as string);
  });

  it("works like a member's token, and the audit row names the key, not its creator", async () => {
    const made = await makeKey(a);
    const key = t.keyClient(made.key);
    const project = await key.projects.create.mutate({ name: "Filed by CI" });
    expect(project.createdBy).toBe(made.id);
    expect((await key.projects.list.query({})).items.map((p) => p.id)).toContain(project.id);
    const trail = await a.client.audit.list.query({ limit: 100 });
    const entry = trail.items.find((item) => item.targetId === project.id && item.action === "project.created");
    expect(entry).toMatchObject({ actorId: made.id, actorType: "api_key" });
    const created = trail.items.find((item) => item.targetId === made.id && item.action === "api_key.created");
    expect(created).toMatchObject({ actorId: a.userId, actorType: "user" });
  });

  it("stays in its tenant: another tenant's slug is FORBIDDEN, another tenant's ids NOT_FOUND", async () => {
    const made = await makeKey(a, { role: "admin" });
    const theirs = await b.client.projects.create.mutate({ name: "Beta's" });
    expect(await codeOf(t.keyClient(made.key, { "x-tenant": b.slug }).projects.list.query({}))).toBe("FORBIDDEN");
    const key = t.keyClient(made.key);
    expect(await codeOf(key.projects.get.query({ id: theirs.id }))).toBe("NOT_FOUND");
    expect(await codeOf(key.projects.update.mutate({ id: theirs.id, name: "taken" }))).toBe("NOT_FOUND");
    expect(await codeOf(key.projects.delete.mutate({ id: theirs.id }))).toBe("NOT_FOUND");
    expect(await codeOf(key.tasks.create.mutate({ projectId: theirs.id, title: "x" }))).toBe("NOT_FOUND");
    expect((await b.client.projects.get.query({ id: theirs.id })).name).toBe("Beta's");
    // A key whose tenant part names Beta but whose id is Alpha's is no key at all.
    const forged = made.key.replace(a.tenantId.replaceAll("-", ""), b.tenantId.replaceAll("-", ""));
    expect(await codeOf(t.keyClient(forged).projects.list.query({}))).toBe("UNAUTHORIZED");
  });

  it("refuses a wrong secret, a revoked key and an expired key on their next request", async () => {
    const made = await makeKey(a);
    const key = t.keyClient(made.key);
    await key.projects.list.query({});
    const wrong = `${made.key.slice(0, -2)}${made.key.endsWith("AA") ? "AB" : "AA"}`;
    expect(await codeOf(t.keyClient(wrong).projects.list.query({}))).toBe("UNAUTHORIZED");
    expect(await codeOf(t.keyClient("bhk_nonsense").projects.list.query({}))).toBe("UNAUTHORIZED");

    await a.client.apiKeys.revoke.mutate({ id: made.id });
    // This server still holds a slice of the key's budget: the database refuses it regardless.
    expect(await codeOf(key.projects.list.query({}))).toBe("UNAUTHORIZED");
    expect(await codeOf(key.projects.create.mutate({ name: "after revocation" }))).toBe("UNAUTHORIZED");
    expect(await codeOf(a.client.apiKeys.revoke.mutate({ id: made.id }))).toBe("NOT_FOUND");
    const listed = (await a.client.apiKeys.list.query({})).items.find((k) => k.id === made.id);
    expect(listed?.revokedAt).toBeInstanceOf(Date);

    const expiring = await makeKey(a);
    const soon = t.keyClient(expiring.key);
    await soon.projects.list.query({});
    await t.admin.execute(
      sql`update api_keys set expires_at = now() - interval '1 second' where id = ${expiring.id}::uuid`,
    );
    expect(await codeOf(soon.projects.list.query({}))).toBe("UNAUTHORIZED");
    expect(await codeOf(a.client.apiKeys.create.mutate({ name: "past", role: "member", expiresAt: new Date(0) }))).toBe(
      "BAD_REQUEST",
    );
  });

  it("is checked in the database itself: the member path and the budget refuse a wrong hash whoever calls them", async () => {
    const made = await makeKey(a);
    const secret = made.key.slice("bhk_".length + 64 + 1);
    const right = createHash("sha256").update(secret).digest("hex");
    const wrong = createHash("sha256").update(`${secret}x`).digest("hex");
    const runtime = t.db.database.db;
    // As withMember calls it: the first statement of a transaction.
    const enter = (hash: string) =>
      runtime.transaction((tx) =>
        tx.execute(
          sql`select app.enter_member(${a.tenantId}::uuid, ${made.id}::uuid, 5000, ${made.id}::uuid, null, false, false, ${hash}, false) as role`,
        ),
      );
    expect(rowsOf<{ role: string }>(await enter(right))[0]?.role).toBe("member");
    await expect(enter(wrong)).rejects.toMatchObject({ cause: expect.objectContaining({ code: "BH401" }) });
    const take = async (hash: string) =>
      rowsOf<{ granted: number | null }>(
        await runtime.execute(
          sql`select p_granted as granted from app.api_key_take(${a.tenantId}::uuid, ${made.id}::uuid, ${hash}, 1, 10)`,
        ),
      )[0]?.granted;
    expect(await take(right)).toBe(1);
    expect(await take(wrong)).toBeNull();
  });

  it("refuses a read-only key every mutation of the router, in the member path, and changes nothing", async () => {
    const readOnly = await makeKey(a, { role: "admin", readOnly: true });
    const full = await makeKey(a, { role: "admin" });
    const mutations = Object.entries(appRouter._def.procedures).filter(
      ([, procedure]) => (procedure as { _def: { type: string } })._def.type === "mutation",
    );
    expect(mutations.length).toBeGreaterThan(30);
    const before = await one<{ n: number }>(
      sql`select count(*)::int as n from audit_events where tenant_id = ${a.tenantId}::uuid`,
    );
    let forKeys = 0;
    for (const [path, procedure] of mutations) {
      if (publicPaths.has(path)) continue;
      const meta = (procedure as { _def: { meta?: { apiKeys?: boolean } } })._def.meta;
      const refused = await call(path, readOnly.key);
      expect({ path, status: refused.status }).toEqual({ path, status: 403 });
      if (meta?.apiKeys) {
        forKeys++;
        // Refused by app.enter_member, before the input is even read…
        expect({ path, message: refused.message }).toEqual({ path, message: readOnlyKeyMessage });
        // …where the same call with a key that may write gets past it (to its input's check).
        const allowed = await call(path, full.key);
        expect({ path, message: allowed.message }).not.toEqual({ path, message: readOnlyKeyMessage });
        expect({ path, code: allowed.code }).not.toEqual({ path, code: "FORBIDDEN" });
      } else {
        expect({ path, message: refused.message }).toEqual({ path, message: personOnly(path) });
      }
    }
    expect(forKeys).toBeGreaterThanOrEqual(12);
    const after = await one<{ n: number }>(
      sql`select count(*)::int as n from audit_events where tenant_id = ${a.tenantId}::uuid`,
    );
    expect(after.n).toBe(before.n);
    // It still reads.
    expect((await t.keyClient(readOnly.key).projects.list.query({})).items).toBeDefined();
  });

  it("never manages keys, members, the workspace or an account, whatever its role: every such procedure needs a person", async () => {
    const admin = await makeKey(a, { role: "admin" });
    const forPeople = Object.entries(appRouter._def.procedures)
      .filter(([, procedure]) => {
        const def = (procedure as { _def: { type: string; meta?: { apiKeys?: boolean } } })._def;
        return !def.meta?.apiKeys && def.type !== "subscription";
      })
      .map(([path, procedure]) => [path, (procedure as { _def: { type: "query" | "mutation" } })._def.type] as const);
    const paths = forPeople.map(([path]) => path);
    for (const path of [
      "apiKeys.create",
      "apiKeys.list",
      "apiKeys.revoke",
      "members.invite",
      "members.remove",
      "members.updateRole",
      "members.signOut",
      "tenant.update",
      "tenant.export",
      "tenant.scheduleDeletion",
      "auth.me",
      "auth.changePassword",
    ]) {
      expect(paths).toContain(path);
    }
    for (const [path, type] of forPeople) {
      const refused = await call(path, admin.key, {}, type);
      // Public procedures (login, registration) take no credential; none of them returns a key anything.
      if (refused.message === personOnly(path)) {
        expect(refused.status).toBe(403);
      } else {
        expect({ path, kind: "public" }).toEqual({ path, kind: publicPaths.has(path) ? "public" : "not public" });
      }
    }
    expect(await codeOf(t.keyClient(admin.key).apiKeys.create.mutate({ name: "child", role: "admin" }))).toBe(
      "FORBIDDEN",
    );
    const member = await t.addMember(a, "member");
    expect(await codeOf(member.client.apiKeys.create.mutate({ name: "mine", role: "member" }))).toBe("FORBIDDEN");
    expect(await codeOf(member.client.apiKeys.list.query({}))).toBe("FORBIDDEN");
  });

  it("outlives its creator: the removal is audited, the key keeps working, and the list says who made it", async () => {
    const creator = await t.addMember(a, "admin");
    const made = await creator.client.apiKeys.create.mutate({ name: "Zapier", role: "member" });
    await a.client.members.remove.mutate({ userId: creator.userId });
    const project = await t.keyClient(made.key).projects.create.mutate({ name: "still here" });
    expect(project.createdBy).toBe(made.id);
    const listed = (await a.client.apiKeys.list.query({ limit: 100 })).items.find((key) => key.id === made.id);
    expect(listed?.createdBy).toEqual({ id: creator.userId, name: null, email: null, removed: true });
    const trail = await a.client.audit.list.query({ limit: 100 });
    expect(trail.items.some((item) => item.action === "member.removed" && item.targetId === creator.userId)).toBe(true);
  });

  it("writes last_used_at when it takes budget, at most once a minute, not on every request", async () => {
    const made = await makeKey(a);
    const key = t.keyClient(made.key);
    await key.projects.list.query({});
    const first = await one<{ at: Date }>(sql`select last_used_at as at from api_keys where id = ${made.id}::uuid`);
    expect(first.at).not.toBeNull();
    for (let i = 0; i < 5; i++) await key.projects.list.query({});
    const later = await one<{ at: Date }>(sql`select last_used_at as at from api_keys where id = ${made.id}::uuid`);
    expect(new Date(later.at).getTime()).toBe(new Date(first.at).getTime());
  });

  it("follows the workspace's live events, and its stream ends at once when it is revoked", async () => {
    const made = await makeKey(a);
    const live = await watch(t.keyClient(made.key));
    const project = await a.client.projects.create.mutate({ name: "Seen by the key" });
    expect((await live.until(1)).map((event) => event.entityId)).toEqual([project.id]);
    live.stop();
    const slow = await createTestApp({ db: t.db, env: { EVENTS_POLL_MS: "20000" } });
    try {
      const stream = await watch(slow.keyClient(made.key));
      await pause(200); // the stream is waiting now
      const revokedAt = Date.now();
      await a.client.apiKeys.revoke.mutate({ id: made.id });
      const code = await Promise.race([stream.ended, pause(5000).then(() => "still open")]);
      expect(code).toBe("UNAUTHORIZED");
      expect(Date.now() - revokedAt).toBeLessThan(2000);
    } finally {
      await slow.close();
    }
  });

  it("costs one budget write per slice, not one per request", async () => {
    const made = await makeKey(a);
    const key = t.keyClient(made.key);
    const before = { ...t.keyBudget.stats };
    for (let i = 0; i < 100; i++) await key.projects.get.query({ id: crypto.randomUUID() }).catch(() => {});
    const spent = t.keyBudget.stats.spent - before.spent;
    const takes = t.keyBudget.stats.takes - before.takes;
    expect(spent).toBe(100);
    // A slice is a twentieth of the minute's budget (30 of 600): 4 takes, 5 if a minute ended meanwhile.
    expect(takes).toBeGreaterThanOrEqual(Math.ceil(100 / 30));
    expect(takes).toBeLessThanOrEqual(Math.ceil(100 / 30) + 1);
    const usage = await one<{ used: number }>(sql`select used from api_key_usage where key_id = ${made.id}::uuid`);
    expect(usage.used % 30).toBe(0);
  });

  it("counts failed lookups against the address like logins, and refuses it past the limit", async () => {
    const limit = t.config.login.addressMaxFailures;
    const bogus = `bhk_${"0".repeat(32)}${a.tenantId.replaceAll("-", "")}_${"A".repeat(43)}`;
    const guesser = await createTestApp({ db: t.db, peerAddress: "203.0.113.41" });
    const codes: (string | null)[] = [];
    try {
      for (let i = 0; i <= limit + 1; i++) codes.push(await codeOf(guesser.keyClient(bogus).projects.list.query({})));
    } finally {
      await guesser.close();
    }
    expect(codes.slice(0, limit)).toEqual(Array(limit).fill("UNAUTHORIZED"));
    expect(codes.slice(limit)).toEqual(["TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS"]);
    // Another address is not held up by it.
    const elsewhere = await createTestApp({ db: t.db, peerAddress: "198.51.100.41" });
    try {
      expect(await codeOf(elsewhere.keyClient(bogus).projects.list.query({}))).toBe("UNAUTHORIZED");
    } finally {
      await elsewhere.close();
    }
  });
});

/** Procedures anyone may call: a key's credential is simply not what they read. */
const publicPaths = new Set([
  "health",
  "auth.registerTenant",
  "auth.login",
  "auth.mfa.verify",
  "auth.passkeys.loginOptions",
  "auth.passkeys.login",
  "auth.refresh",
  "auth.verifyEmail",
  "auth.requestPasswordReset",
  "auth.resetPassword",
  "auth.acceptInvite",
]);

describe("the request budget", () => {
  /**
   * Runs `check` within one clock minute of the database (the budget's window): a run that
   * straddles a minute's end is run again, at most twice, instead of waiting for a fresh minute.
   */
  async function inOneMinute(check: () => Promise<void>) {
    const minute = async () => (await one<{ m: string }>(sql`select date_trunc('minute', now())::text as m`)).m;
    for (let attempt = 0; ; attempt++) {
      const before = await minute();
      try {
        await check();
        if ((await minute()) === before || attempt === 2) return;
      } catch (error) {
        if ((await minute()) === before || attempt === 2) throw error;
      }
    }
  }

  it("answers 429 with Retry-After and RateLimit headers past API_KEY_REQUESTS_PER_MINUTE", async () => {
    const limited = await createTestApp({ db: t.db, env: { API_KEY_REQUESTS_PER_MINUTE: "5" } });
    try {
      await inOneMinute(async () => {
        const made = await makeKey(a);
        const statuses: number[] = [];
        let last: Response | undefined;
        for (let i = 0; i < 6; i++) {
          last = await limited.fetch(`http://bulkhead.test/api/v1/projects`, {
            headers: { authorization: `Bearer ${made.key}` },
          });
          statuses.push(last.status);
          if (i === 0) {
            expect(last.headers.get("ratelimit-limit")).toBe("5");
            expect(last.headers.get("ratelimit-remaining")).toBe("4");
            expect(last.headers.get("ratelimit-policy")).toBe("5;w=60");
          }
        }
        expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
        const retryAfter = Number(last?.headers.get("retry-after"));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect(last?.headers.get("ratelimit-remaining")).toBe("0");
        // Another key of the same workspace has its own budget.
        const other = await makeKey(a);
        expect((await limited.keyClient(other.key).projects.list.query({})).items).toBeDefined();
      });
    } finally {
      await limited.close();
    }
  });

  it("holds across two servers: 60 parallel requests against a budget of 20 get exactly 20 answers", async () => {
    const env = { API_KEY_REQUESTS_PER_MINUTE: "20" };
    const servers = [await createTestApp({ db: t.db, env }), await createTestApp({ db: t.db, env })];
    try {
      await inOneMinute(async () => {
        const made = await makeKey(a);
        const codes = await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            codeOf((servers[i % 2] as TestApp).keyClient(made.key).projects.list.query({})),
          ),
        );
        expect(codes.filter((code) => code === null)).toHaveLength(20);
        expect(codes.filter((code) => code === "TOO_MANY_REQUESTS")).toHaveLength(40);
        const usage = await one<{ used: number }>(sql`select used from api_key_usage where key_id = ${made.id}::uuid`);
        expect(usage.used).toBe(20);
      });
    } finally {
      await Promise.all(servers.map((server) => server.close()));
    }
  });

  it("caps a workspace's live keys, and parallel creations at the cap cannot pass it", async () => {
    const c = await t.registerTenant("Capped");
    await t.admin.execute(sql`
      insert into api_keys (tenant_id, name, prefix, secret_hash, role, created_by)
      select ${c.tenantId}::uuid, 'filler ' || i, 'bhk_00000000', repeat('0', 64), 'member', ${c.userId}::uuid
        from generate_series(1, 97) as i`);
    const codes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => codeOf(c.client.apiKeys.create.mutate({ name: `key ${i}`, role: "member" }))),
    );
    expect(codes.filter((code) => code === null)).toHaveLength(3);
    expect(codes.filter((code) => code === "CONFLICT")).toHaveLength(5);
  });
});
