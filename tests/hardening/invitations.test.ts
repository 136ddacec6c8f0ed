/**
 * Finding 4: invitations outlived their inviter's authority, and could be neither listed nor
 * revoked: a removed admin who kept an admin invitation came back as admin.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, createTestApp, password, type TenantHandle, type TestApp } from "../helpers/app.js";

let t: TestApp;
let owner: TenantHandle;
beforeAll(async () => {
  t = await createTestApp();
  owner = await t.registerTenant("Invites");
});
afterAll(() => t.close());

const accept = (token: string) => codeOf(t.client().auth.acceptInvite.mutate({ token, name: "Returning", password }));

describe("invitations", () => {
  it("die with their inviter's removal", async () => {
    const admin = await t.addMember(owner, "admin");
    const spare = await admin.client.members.invite.mutate({ email: "second-self@invites.test", role: "admin" });
    await owner.client.members.remove.mutate({ userId: admin.userId });
    expect(await accept(spare.token)).toBe("UNAUTHORIZED");
  });

  it("die with their inviter's demotion below the role they grant, or below admin", async () => {
    const admin = await t.addMember(owner, "admin");
    const asAdmin = await admin.client.members.invite.mutate({ email: "crony@invites.test", role: "admin" });
    const asMember = await admin.client.members.invite.mutate({ email: "friend@invites.test", role: "member" });
    await owner.client.members.updateRole.mutate({ userId: admin.userId, role: "member" });
    expect(await accept(asAdmin.token)).toBe("UNAUTHORIZED");
    expect(await accept(asMember.token)).toBe("UNAUTHORIZED");
  });

  it("still work while their inviter keeps the role", async () => {
    const admin = await t.addMember(owner, "admin");
    const invite = await admin.client.members.invite.mutate({ email: "welcome@invites.test", role: "admin" });
    expect(await accept(invite.token)).toBeNull();
  });

  it("are listed while pending, and revoking one ends its token and is audited", async () => {
    const invite = await owner.client.members.invite.mutate({ email: "maybe@invites.test", role: "member" });
    const page = await owner.client.members.invitations.query({});
    const listed = page.items.find((i) => i.id === invite.invitationId);
    expect(listed).toEqual({
      id: invite.invitationId,
      email: "maybe@invites.test",
      role: "member",
      invitedBy: owner.userId,
      expiresAt: invite.expiresAt,
      createdAt: expect.any(Date),
    });
    // Accepted invitations are not pending.
    const accepted = await owner.client.members.invite.mutate({ email: "yes@invites.test", role: "member" });
    expect(await accept(accepted.token)).toBeNull();
    const after = await owner.client.members.invitations.query({ limit: 100 });
    expect(after.items.map((i) => i.id)).not.toContain(accepted.invitationId);

    expect(await owner.client.members.revokeInvitation.mutate({ invitationId: invite.invitationId })).toEqual({
      ok: true,
    });
    expect(await accept(invite.token)).toBe("UNAUTHORIZED");
    expect(await codeOf(owner.client.members.revokeInvitation.mutate({ invitationId: invite.invitationId }))).toBe(
      "NOT_FOUND",
    );
    const events = await owner.client.audit.list.query({ limit: 5 });
    expect(events.items[0]).toMatchObject({ action: "invitation.revoked", targetId: invite.invitationId });
  });

  it("are an admin's to see and revoke, and another tenant's are not found", async () => {
    const member = await t.addMember(owner, "member");
    const invite = await owner.client.members.invite.mutate({ email: "private@invites.test", role: "member" });
    expect(await codeOf(member.client.members.invitations.query({}))).toBe("FORBIDDEN");
    expect(await codeOf(member.client.members.revokeInvitation.mutate({ invitationId: invite.invitationId }))).toBe(
      "FORBIDDEN",
    );
    const other = await t.registerTenant("Elsewhere");
    expect(await codeOf(other.client.members.revokeInvitation.mutate({ invitationId: invite.invitationId }))).toBe(
      "NOT_FOUND",
    );
    expect((await other.client.members.invitations.query({})).items).toEqual([]);
    expect(await accept(invite.token)).toBeNull();
  });
});
