import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, createTwoTenants, password, type TenantHandle, type TestApp } from "../helpers/app.js";

let t: TestApp;
let a: TenantHandle;
let b: TenantHandle;

beforeAll(async () => {
  ({ t, a, b } = await createTwoTenants());
  await a.client.projects.create.mutate({ name: "Alpha plans" });
  await b.client.projects.create.mutate({ name: "Beta plans" });
});
afterAll(() => t.close());

/** No response in this suite may carry a password, refresh-token or invitation-token hash. */
afterAll(() => {
  const everything = t.bodies.join("\n");
  expect(everything).not.toMatch(/\$argon2/);
  expect(everything).not.toMatch(/passwordHash|password_hash|tokenHash|token_hash/);
  expect(everything).not.toMatch(/[0-9a-f]{64}/);
});

describe("invitations", () => {
  it("are accepted once with the invited email and role; the member sees only their tenant", async () => {
    const invite = await a.client.members.invite.mutate({ email: "New.Person@Example.com", role: "admin" });
    expect(invite.expiresAt.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    const newcomer = t.client();
    const session = await newcomer.auth.acceptInvite.mutate({ token: invite.token, name: "New Person", password });
    expect(session.user).toMatchObject({ email: "new.person@example.com", role: "admin", name: "New Person" });
    expect(session.tenant.id).toBe(a.tenantId);

    const names = (await newcomer.projects.list.query({})).items.map((p) => p.name);
    expect(names).toEqual(["Alpha plans"]);

    expect(await codeOf(t.client().auth.acceptInvite.mutate({ token: invite.token, name: "Again", password }))).toBe(
      "UNAUTHORIZED",
    );
  });

  it("expire after 7 days", async () => {
    const invite = await a.client.members.invite.mutate({ email: "late@example.com", role: "member" });
    t.clock.advance(7 * 86_400_000 + 60_000);
    try {
      expect(await codeOf(t.client().auth.acceptInvite.mutate({ token: invite.token, name: "Late", password }))).toBe(
        "UNAUTHORIZED",
      );
    } finally {
      t.clock.advance(-(7 * 86_400_000 + 60_000));
    }
  });

  it("cannot be redirected to another tenant by editing the token", async () => {
    const invite = await a.client.members.invite.mutate({ email: "redirect@example.com", role: "member" });
    const forged = invite.token.replace(a.tenantId, b.tenantId);
    expect(await codeOf(t.client().auth.acceptInvite.mutate({ token: forged, name: "X", password }))).toBe(
      "UNAUTHORIZED",
    );
  });

  it("are refused for an existing member's email (CONFLICT), and to non-admins (FORBIDDEN)", async () => {
    expect(await codeOf(a.client.members.invite.mutate({ email: a.session.user.email, role: "member" }))).toBe(
      "CONFLICT",
    );
    const member = await t.addMember(a, "member");
    expect(await codeOf(member.client.members.invite.mutate({ email: "z@example.com", role: "member" }))).toBe(
      "FORBIDDEN",
    );
  });
});

describe("roles and removal act on the next request", () => {
  it("a removed member's unexpired token is UNAUTHORIZED at once", async () => {
    const member = await t.addMember(a, "member");
    expect(await codeOf(member.client.projects.list.query({}))).toBeNull();
    await a.client.members.remove.mutate({ userId: member.userId });
    expect(await codeOf(t.client({ ...member.session }).projects.list.query({}))).toBe("UNAUTHORIZED");
    // Its refresh token went with it.
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: member.session.refreshToken }))).toBe(
      "UNAUTHORIZED",
    );
  });

  it("a demoted admin is FORBIDDEN on an admin procedure at once", async () => {
    const admin = await t.addMember(a, "admin");
    expect(await codeOf(admin.client.tenant.update.mutate({ name: "Alpha Inc" }))).toBeNull();
    await a.client.members.updateRole.mutate({ userId: admin.userId, role: "member" });
    expect(await codeOf(admin.client.tenant.update.mutate({ name: "Alpha Ltd" }))).toBe("FORBIDDEN");
    expect(await codeOf(admin.client.projects.list.query({}))).toBeNull();
  });

  it("only owners change roles; a tenant always keeps an owner", async () => {
    const c = await t.registerTenant("Owners");
    const admin = await t.addMember(c, "admin");
    expect(await codeOf(admin.client.members.updateRole.mutate({ userId: c.userId, role: "member" }))).toBe(
      "FORBIDDEN",
    );
    expect(await codeOf(admin.client.members.remove.mutate({ userId: c.userId }))).toBe("FORBIDDEN");
    expect(await codeOf(c.client.members.updateRole.mutate({ userId: c.userId, role: "admin" }))).toBe("CONFLICT");
    expect(await codeOf(c.client.members.remove.mutate({ userId: c.userId }))).toBe("CONFLICT");

    const promoted = await c.client.members.updateRole.mutate({ userId: admin.userId, role: "owner" });
    expect(promoted.role).toBe("owner");
    // Two owners now: one may step down, then the other is the last again.
    await c.client.members.updateRole.mutate({ userId: c.userId, role: "member" });
    expect(await codeOf(admin.client.members.updateRole.mutate({ userId: admin.userId, role: "member" }))).toBe(
      "CONFLICT",
    );
  });

  it("members of another tenant are NOT_FOUND to role changes and removal", async () => {
    expect(await codeOf(a.client.members.updateRole.mutate({ userId: b.userId, role: "member" }))).toBe("NOT_FOUND");
    expect(await codeOf(a.client.members.remove.mutate({ userId: b.userId }))).toBe("NOT_FOUND");
    expect(await codeOf(b.client.projects.list.query({}))).toBeNull();
  });
});

describe("tenant and members", () => {
  it("tenant.get / tenant.update / auth.me / members.list", async () => {
    const c = await t.registerTenant("Gamma");
    expect(await c.client.tenant.get.query()).toMatchObject({ id: c.tenantId, slug: c.slug, name: "Gamma" });
    expect(await c.client.tenant.update.mutate({ name: "  Gamma 2 " })).toMatchObject({ name: "Gamma 2" });
    const me = await c.client.auth.me.query();
    expect(me.user).toEqual(c.session.user);
    expect(Object.keys(me.user).sort()).toEqual(["createdAt", "email", "emailVerifiedAt", "id", "name", "role"]);
    await t.addMember(c, "member");
    const page = await c.client.members.list.query({ limit: 1 });
    expect(page.items).toHaveLength(1);
    const rest = await c.client.members.list.query({ limit: 10, cursor: page.nextCursor ?? "" });
    expect([...page.items, ...rest.items].map((m) => m.role).sort()).toEqual(["member", "owner"]);
    expect(JSON.stringify(rest)).not.toContain(a.slug);
  });
});
