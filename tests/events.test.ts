/**
 * The event log and its live streams (events.onChange over SSE): order, no gaps, nothing of
 * another tenant, resumption by id, the member re-check, the caps, retention and wake-ups.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eraseDueTenants } from "../db/erase.js";
import { pruneExpired } from "../db/prune.js";
import { withTenant } from "../db/tenant.js";
import { rowsOf } from "../db/types.js";
import { recordAudit } from "../server/audit.js";
import { codeOf, createTestApp, createTwoTenants, password, type TenantHandle, type TestApp } from "./helpers/app.js";
import { readStream, watch } from "./helpers/events.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants({ env: { EVENTS_MAX_STREAMS_PER_USER: "3" } }));
});
afterAll(() => t.close());

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the event log", () => {
  it("streams each change of the tenant once, in commit order, and none of another tenant's", async () => {
    const stream = await watch(a.client);
    const other = await watch(b.client);
    const project = await a.client.projects.create.mutate({ name: "Board" });
    const foreign = await b.client.projects.create.mutate({ name: "Theirs" });
    const task = await a.client.tasks.create.mutate({ projectId: project.id, title: "Card" });
    await b.client.tasks.create.mutate({ projectId: foreign.id, title: "Their card" });
    await a.client.tasks.update.mutate({ id: task.id, status: "done" });
    const comment = await a.client.comments.create.mutate({ taskId: task.id, body: "a secret plan" });
    await a.client.comments.delete.mutate({ id: comment.id });
    await a.client.tasks.delete.mutate({ id: task.id });
    await a.client.projects.update.mutate({ id: project.id, name: "Renamed" });
    await a.client.projects.delete.mutate({ id: project.id });

    const got = await stream.until(8);
    expect(got.map((event) => event.type)).toEqual([
      "project.created",
      "task.created",
      "task.updated",
      "comment.created",
      "comment.deleted",
      "task.deleted",
      "project.updated",
      "project.deleted",
    ]);
    // Consecutive ids, each once; every event names its project; none carries the tenant.
    const ids = stream.ids.map(Number);
    expect(ids).toEqual(ids.map((_, i) => (ids[0] ?? 0) + i));
    expect(new Set(got.map((event) => event.projectId))).toEqual(new Set([project.id]));
    expect(got.find((event) => event.type === "task.updated")?.payload).toMatchObject({ id: task.id, status: "done" });
    expect(JSON.stringify(got)).not.toContain(b.tenantId);
    expect(JSON.stringify(got)).not.toContain(foreign.id);
    expect(JSON.stringify(got)).not.toContain("a secret plan");
    expect(got.every((event) => !("tenantId" in event))).toBe(true);

    const theirs = await other.until(2);
    expect(theirs.map((event) => event.type)).toEqual(["project.created", "task.created"]);
    expect(JSON.stringify(theirs)).not.toContain(project.id);
    stream.stop();
    other.stop();
  });

  it("30 changes racing in one tenant reach a stream reading meanwhile each once, ids without a gap", async () => {
    const project = await a.client.projects.create.mutate({ name: "Race" });
    const stream = await watch(a.client, { projectId: project.id });
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        a.client.tasks.create.mutate({ projectId: project.id, title: `racer ${i}` }),
      ),
    );
    const got = await stream.until(30, 10_000);
    await pause(300);
    expect(got).toHaveLength(30);
    expect(new Set(got.map((event) => event.entityId))).toEqual(new Set(created.map((task) => task.id)));
    const ids = stream.ids.map(Number);
    expect(ids).toEqual(ids.map((_, i) => (ids[0] ?? 0) + i));
    stream.stop();
  });

  it("a rolled-back change leaves no event and no gap", async () => {
    const before = Number((await a.client.events.head.query()).lastEventId);
    const failed = withTenant(t.database.db, { tenantId: a.tenantId, userId: a.userId }, async (tx) => {
      await recordAudit(
        tx,
        { action: "project.created", targetType: "project", targetId: null, tenantId: a.tenantId, actorId: a.userId },
        { requestId: "test", clientAddress: null },
        { type: "project.created", entityId: a.userId, projectId: null, payload: {} },
      );
      throw new Error("rolled back");
    });
    await expect(failed).rejects.toThrow("rolled back");
    expect(Number((await a.client.events.head.query()).lastEventId)).toBe(before);
    const stream = await watch(a.client, { lastEventId: String(before) });
    await a.client.projects.create.mutate({ name: "After the rollback" });
    await stream.until(1);
    expect(stream.ids).toEqual([String(before + 1)]);
    stream.stop();
  });

  it("member events carry the member, never an email, a hash or a token", async () => {
    const stream = await watch(a.client);
    const member = await t.addMember(a, "member");
    await a.client.members.updateRole.mutate({ userId: member.userId, role: "admin" });
    const project = await a.client.projects.create.mutate({ name: "Theirs to do" });
    const task = await a.client.tasks.create.mutate({ projectId: project.id, title: "x", assigneeId: member.userId });
    await a.client.members.remove.mutate({ userId: member.userId });
    const got = await stream.until(6);
    expect(got.map((event) => event.type)).toEqual([
      "member.joined",
      "member.role_changed",
      "project.created",
      "task.created",
      "task.updated",
      "member.removed",
    ]);
    // The removal unassigned their task: its event says so, in the removal's own call.
    expect(got[4]?.payload).toMatchObject({ id: task.id, assigneeId: null });
    expect(got[5]?.entityId).toBe(member.userId);
    expect(got[0]?.payload).toEqual({ id: member.userId, name: "A member", role: "member" });
    expect(got[0]?.actorId).toBe(member.userId);
    const text = JSON.stringify(got);
    for (const secret of ["@", "$argon2", member.session.accessToken, member.session.refreshToken]) {
      expect(text).not.toContain(secret);
    }
    stream.stop();
  });
});

describe("events.onChange", () => {
  it("a reconnect with lastEventId gets exactly what it missed, on another server too", async () => {
    const first = await watch(a.client);
    const one = await a.client.projects.create.mutate({ name: "One" });
    await first.until(1);
    first.stop();
    const two = await a.client.projects.create.mutate({ name: "Two" });
    const three = await a.client.projects.create.mutate({ name: "Three" });

    const resumed = await watch(a.client, { lastEventId: first.ids[0] });
    expect((await resumed.until(2)).map((event) => event.entityId)).toEqual([two.id, three.id]);
    resumed.stop();

    // A second app instance on the same database: a client that reconnects elsewhere resumes there.
    const elsewhere = await createTestApp({ db: t.db });
    try {
      const client = elsewhere.client(a.session);
      const there = await watch(client, { lastEventId: first.ids[0] });
      expect((await there.until(2)).map((event) => event.entityId)).toEqual([two.id, three.id]);
      expect(there.events.map((event) => event.entityId)).not.toContain(one.id);
      there.stop();
    } finally {
      await elsewhere.close();
    }
  });

  it("a lastEventId of another tenant replays nothing of it, and loses nothing of one's own", async () => {
    // A's ids are far ahead of B's here: B resuming "from" A's last id starts at B's own head.
    for (let i = 0; i < 3; i++) await a.client.projects.create.mutate({ name: `Ahead ${i}` });
    const aHead = (await a.client.events.head.query()).lastEventId;
    const bHead = Number((await b.client.events.head.query()).lastEventId);
    expect(Number(aHead)).toBeGreaterThan(bHead);
    const stream = await watch(b.client, { lastEventId: aHead });
    const mine = await b.client.projects.create.mutate({ name: "B's own" });
    const got = await stream.until(1);
    await pause(300);
    expect(got.map((event) => event.entityId)).toEqual([mine.id]);
    expect(stream.ids).toEqual([String(bHead + 1)]);
    stream.stop();
  });

  it("follows one project when asked", async () => {
    const mine = await a.client.projects.create.mutate({ name: "Followed" });
    const other = await a.client.projects.create.mutate({ name: "Not followed" });
    const stream = await watch(a.client, { projectId: mine.id });
    await a.client.tasks.create.mutate({ projectId: other.id, title: "elsewhere" });
    const task = await a.client.tasks.create.mutate({ projectId: mine.id, title: "here" });
    await a.client.comments.create.mutate({ taskId: task.id, body: "on it" });
    const got = await stream.until(2);
    await pause(300);
    expect(got.map((event) => event.type)).toEqual(["task.created", "comment.created"]);
    expect(got.every((event) => event.projectId === mine.id)).toBe(true);
    stream.stop();
  });

  it("a removed member's stream ends within 5 s with UNAUTHORIZED and no further event", async () => {
    const member = await t.addMember(a, "member");
    const stream = await watch(member.client);
    await a.client.projects.create.mutate({ name: "Seen" });
    await stream.until(1);
    const removedAt = Date.now();
    await a.client.members.remove.mutate({ userId: member.userId });
    await a.client.projects.create.mutate({ name: "Not seen" });
    const code = await Promise.race([stream.ended, pause(5000).then(() => "still open")]);
    expect(code).toBe("UNAUTHORIZED");
    expect(Date.now() - removedAt).toBeLessThan(5000);
    expect(stream.events.map((event) => event.type)).toEqual(["project.created"]);
  });

  it("a signed-out session's stream ends at once: the sign-out wakes the streams, long before their poll", async () => {
    const slow = await createTestApp({ db: t.db, env: { EVENTS_POLL_MS: "20000" } });
    try {
      for (const signOut of ["members.signOut", "auth.logout"] as const) {
        const member = await t.addMember(a, "member");
        const stream = await watch(slow.client(member.session));
        await pause(200); // the stream is waiting now
        const signedOutAt = Date.now();
        if (signOut === "auth.logout") await member.client.auth.logout.mutate({ everywhere: true });
        else await a.client.members.signOut.mutate({ userId: member.userId });
        const code = await Promise.race([stream.ended, pause(5000).then(() => "still open")]);
        expect(code, signOut).toBe("UNAUTHORIZED");
        expect(Date.now() - signedOutAt, signOut).toBeLessThan(2000);
      }
    } finally {
      await slow.close();
    }
  });

  it("a deleted workspace's streams end within 5 s of its erasure, with no further event", async () => {
    const doomed = await t.registerTenant("Doomed");
    const stream = await watch(doomed.client);
    await doomed.client.projects.create.mutate({ name: "Last words" });
    await stream.until(1);
    await doomed.client.tenant.scheduleDeletion.mutate({ password });
    await t.admin.execute(
      sql`update tenants set deletion_due_at = now() - interval '1 second' where id = ${doomed.tenantId}`,
    );
    const erasing = Date.now();
    await eraseDueTenants(t.database.db, { slugReservedDays: 1 });
    const code = await Promise.race([stream.ended, pause(5000).then(() => "still open")]);
    expect(code).toBe("UNAUTHORIZED");
    expect(Date.now() - erasing).toBeLessThan(5000);
    expect(stream.events.map((event) => event.type)).toEqual(["project.created"]);
  });

  it("refuses a stream past the per-user limit, and frees the slot when one closes", async () => {
    const member = await t.addMember(a, "member");
    const open = [await watch(member.client), await watch(member.client), await watch(member.client)];
    await a.client.projects.create.mutate({ name: "Three streams see it" });
    for (const stream of open) expect(await stream.until(1)).toHaveLength(1);
    const refused = await watch(member.client);
    expect(await Promise.race([refused.ended, pause(2000).then(() => "still open")])).toBe("TOO_MANY_REQUESTS");
    // Another user of the tenant is not held by this one's streams.
    const other = await watch(a.client);
    open[0]?.stop();
    const streams = t.events.streams;
    for (let i = 0; i < 100 && t.events.streams >= streams; i++) await pause(20);
    const again = await watch(member.client);
    await a.client.projects.create.mutate({ name: "A freed slot sees it" });
    expect((await again.until(1)).map((event) => event.type)).toEqual(["project.created"]);
    expect((await other.until(1)).map((event) => event.type)).toEqual(["project.created"]);
    for (const stream of [...open, again, other]) stream.stop();
  });

  it("refuses a caller without a token, and never logs the token of one with it", async () => {
    expect(await codeOf(watch(t.client()))).toBe("UNAUTHORIZED");
    const stream = await watch(a.client);
    await a.client.projects.create.mutate({ name: "Logged" });
    await stream.until(1);
    stream.stop();
    const logged = JSON.stringify(t.logger.entries);
    expect(logged).toContain("events.onChange");
    expect(logged).not.toContain(a.session.accessToken);
    expect(logged).not.toContain("connectionParams");
  });

  it("a tenant named in connectionParams must be the token's, and agree with X-Tenant", async () => {
    const named = t.client(a.session, { "x-tenant": b.slug });
    expect(await codeOf(watch(named))).toBe("FORBIDDEN");
    // What an EventSource sends: the token and tenant as connectionParams, in the URL.
    const open = async (tenant: string, header?: string) => {
      const input = encodeURIComponent(JSON.stringify({ json: {} }));
      const params = encodeURIComponent(JSON.stringify({ token: a.session.accessToken, tenant }));
      const stop = new AbortController();
      const response = await t.app.request(`/trpc/events.onChange?input=${input}&connectionParams=${params}`, {
        headers: header ? { "x-tenant": header } : {},
        signal: stop.signal,
      });
      // The stream opens, then its first read answers: an error comes within it, or none does.
      const { code } = await readStream(response, 500);
      stop.abort();
      return code ?? (response.status === 200 ? "open" : String(response.status));
    };
    expect(await open(a.slug)).toBe("open");
    expect(await open(a.slug, b.slug)).toBe("FORBIDDEN");
    expect(await open(b.slug)).toBe("FORBIDDEN");
  });

  it("wakes on the commit's notification, well before its poll", async () => {
    const slow = await createTestApp({ db: t.db, env: { EVENTS_POLL_MS: "10000" } });
    try {
      const client = slow.client(a.session);
      const stream = await watch(client);
      await pause(200); // the stream is waiting now
      const started = Date.now();
      await a.client.projects.create.mutate({ name: "Wake up" });
      await stream.until(1, 5000);
      expect(stream.events).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(2000);
      stream.stop();
    } finally {
      await slow.close();
    }
  });

  it("without notifications (a runtime that cannot listen, a lost NOTIFY) still delivers, by polling", async () => {
    const deaf = { ...t.db, database: { ...t.database, listen: undefined } };
    const polling = await createTestApp({ db: deaf, env: { EVENTS_POLL_MS: "300" } });
    try {
      const stream = await watch(polling.client(a.session));
      const project = await a.client.projects.create.mutate({ name: "Polled" });
      expect((await stream.until(1, 3000)).map((event) => event.entityId)).toEqual([project.id]);
      stream.stop();
    } finally {
      await polling.close();
    }
  });

  it("keeps events for EVENT_RETENTION_DAYS: the prune job deletes older ones, and only those", async () => {
    await a.client.projects.create.mutate({ name: "Kept" });
    await t.admin.execute(
      sql`update events set created_at = now() - interval '8 days' where tenant_id = ${b.tenantId}`,
    );
    const count = async (tenantId: string) =>
      rowsOf<{ n: number }>(
        await t.admin.execute(sql`select count(*)::int as n from events where tenant_id = ${tenantId}`),
      )[0]?.n;
    const aBefore = await count(a.tenantId);
    await pruneExpired(t.database.db, { throttleWindowSeconds: 3600 });
    expect(await count(b.tenantId)).toBeGreaterThan(0);
    await pruneExpired(t.database.db, { throttleWindowSeconds: 3600, eventRetentionDays: 7 });
    expect(await count(b.tenantId)).toBe(0);
    expect(await count(a.tenantId)).toBe(aBefore);
  });
});
