/**
 * Sessions a user can see and end (issue 18): each live session with when and from where it
 * began and when it was last refreshed, the current one marked; ending one, all, or (as an admin)
 * all of a member's; each audited, and another user's or tenant's session is not found.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents } from "../../db/schema.js";
import { codeOf, createTestApp, password, signedIn, type TenantHandle, type TestApp } from "../helpers/app.js";

let t: TestApp;
let other: TenantHandle;

beforeAll(async () => {
  t = await createTestApp({ peerAddress: "203.0.113.7" });
  other = await t.registerTenant("Elsewhere");
});
afterAll(() => t.close());

const laptop = { "user-agent": "Mozilla/5.0 (X11; Linux) Firefox/140.0" };
const phone = { "user-agent": "Mozilla/5.0 (iPhone) Mobile Safari\u0007" };

async function twoSessions(name: string) {
  const c = await t.registerTenant(name);
  const second = signedIn(
    await t.client(null, phone).auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password }),
  );
  return { c, second };
}

const auditActions = async (tenantId: string) =>
  (await t.db.admin.select().from(auditEvents).where(eq(auditEvents.tenantId, tenantId))).map((e) => e.action);

describe("auth.sessions", () => {
  it("lists each live session with its origin and last refresh, the current one marked", async () => {
    const { c, second } = await twoSessions("Two devices");
    const sessions = await c.client.auth.sessions.list.query();
    expect(sessions).toHaveLength(2);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    const mine = sessions.find((s) => s.current);
    const theirs = sessions.find((s) => !s.current);
    expect(theirs?.userAgent).toBe("Mozilla/5.0 (iPhone) Mobile Safari"); // control character dropped
    expect(theirs?.clientAddress).toBe("203.0.113.7");
    expect(mine?.createdAt).toBeInstanceOf(Date);

    // A refresh from elsewhere keeps the session's origin and moves its last use.
    t.clock.advance(60_000);
    try {
      const renewed = await t.client(null, laptop).auth.refresh.mutate({ refreshToken: second.refreshToken as string });
      const after = await t.client(renewed).auth.sessions.list.query();
      const same = after.find((s) => s.current);
      expect(same?.id).toBe(theirs?.id);
      expect(same?.userAgent).toBe(theirs?.userAgent);
      expect(same?.createdAt.getTime()).toBe(theirs?.createdAt.getTime());
      expect(same?.lastUsedAt.getTime()).toBeGreaterThan(theirs?.lastUsedAt.getTime() ?? 0);
      expect(after).toHaveLength(2);
    } finally {
      t.clock.advance(-60_000);
    }
  });

  it("revokes one: its tokens fail on their next request, the others go on; audited", async () => {
    const { c, second } = await twoSessions("Lost phone");
    const theirs = (await c.client.auth.sessions.list.query()).find((s) => !s.current);
    expect(await c.client.auth.sessions.revoke.mutate({ id: theirs?.id as string })).toEqual({ ok: true });
    expect(await codeOf(t.client({ accessToken: second.accessToken }).auth.me.query())).toBe("UNAUTHORIZED");
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: second.refreshToken as string }))).toBe(
      "UNAUTHORIZED",
    );
    expect(await c.client.auth.sessions.list.query()).toHaveLength(1);
    expect(await auditActions(c.tenantId)).toContain("auth.session_revoked");
  });

  it("does not find another user's or another tenant's session", async () => {
    const { c } = await twoSessions("Nosy");
    const member = await t.addMember(c, "member");
    const memberSession = (await member.client.auth.sessions.list.query())[0]?.id as string;
    const foreign = (await other.client.auth.sessions.list.query())[0]?.id as string;
    for (const id of [memberSession, foreign]) {
      expect(await codeOf(c.client.auth.sessions.revoke.mutate({ id }))).toBe("NOT_FOUND");
    }
    expect(await codeOf(member.client.auth.me.query())).toBeNull();
    expect(await codeOf(other.client.auth.me.query())).toBeNull();
  });

  it("logout everywhere ends them all", async () => {
    const { c, second } = await twoSessions("Everywhere");
    expect(await c.client.auth.logout.mutate({ everywhere: true })).toEqual({ ok: true });
    for (const session of [c.session, second]) {
      expect(await codeOf(t.client({ accessToken: session.accessToken }).auth.me.query())).toBe("UNAUTHORIZED");
    }
    expect(await auditActions(c.tenantId)).toContain("auth.logout_all");
  });
});

describe("members.signOut", () => {
  it("lets an admin end every session of a member, not of an owner; audited", async () => {
    const c = await t.registerTenant("Signing out");
    const admin = await t.addMember(c, "admin");
    const member = await t.addMember(c, "member");
    expect(await admin.client.members.signOut.mutate({ userId: member.userId })).toEqual({ ok: true, sessions: 1 });
    expect(await codeOf(member.client.auth.me.query())).toBe("UNAUTHORIZED");
    expect(await codeOf(admin.client.members.signOut.mutate({ userId: c.userId }))).toBe("FORBIDDEN");
    expect(await codeOf(c.client.auth.me.query())).toBeNull();
    const again = await t.addMember(c, "member");
    expect(await codeOf(again.client.members.signOut.mutate({ userId: admin.userId }))).toBe("FORBIDDEN");
    expect(await codeOf(admin.client.members.signOut.mutate({ userId: other.userId }))).toBe("NOT_FOUND");
    const [event] = await t.db.admin
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, c.tenantId), eq(auditEvents.action, "member.signed_out")));
    expect(event).toMatchObject({ actorId: admin.userId, targetId: member.userId });
  });
});
