import { and, eq, gt, isNull } from "drizzle-orm";
import { z } from "zod";
import { invitations, tenants, users } from "../../db/schema.js";
import { enterTenant, withoutTenant, withTenant } from "../../db/tenant.js";
import type { Context } from "../context.js";
import { hasRole } from "../roles.js";
import { lineField, nameField, passwordField } from "../validation.js";
import { assertPasswordAllowed } from "./password-policy.js";
import { invalidInvitation, tooMany } from "./refusals.js";
import { startSession } from "./sessions.js";
import type { Session } from "./shapes.js";
import { signupThrottle, takeAttempt } from "./throttle.js";
import { parseOpaqueToken, sha256Hex } from "./tokens.js";
import { sendVerification } from "./verification.js";

export const acceptInviteInput = z.object({
  token: lineField().min(1).max(200),
  name: nameField,
  password: passwordField,
});

/** Accepts an invitation: a new member of the inviting tenant, signed in. */
export async function acceptInvite(ctx: Context, input: z.infer<typeof acceptInviteInput>): Promise<Session> {
  // Acceptances count per address, reserved before the hash (each costs one before the token
  // is checked), successes too: a valid invitation buys a hash as surely as a forged one.
  const throttle = await signupThrottle(ctx.config.signup, ctx.clientAddress);
  if (throttle) {
    const wait = await withoutTenant(ctx.database.db, (tx) => takeAttempt(tx, throttle));
    if (wait > 0) throw tooMany(ctx.resHeaders, wait, "failed invitations from this address");
  }
  const parsed = parseOpaqueToken("inv", input.token);
  if (!parsed) throw invalidInvitation();
  const { tenantId } = parsed;
  const passwordHash = await ctx.hasher.hash(input.password);
  const tokenHash = await sha256Hex(input.token);
  const now = ctx.clock.now();
  const session = await withTenant(
    ctx.database.db,
    { tenantId, userId: null },
    async (tx) => {
      const [invitation] = await tx
        .select({
          id: invitations.id,
          email: invitations.email,
          role: invitations.role,
          invitedBy: invitations.invitedBy,
        })
        .from(invitations)
        .where(
          and(
            eq(invitations.tenantId, tenantId),
            eq(invitations.tokenHash, tokenHash),
            isNull(invitations.acceptedAt),
            gt(invitations.expiresAt, now),
          ),
        )
        .for("update");
      if (!invitation) throw invalidInvitation();
      const [tenant] = await tx.select({ name: tenants.name }).from(tenants).where(eq(tenants.id, tenantId));
      assertPasswordAllowed(input.password, { email: invitation.email, tenantName: tenant?.name ?? "" });
      // An invitation is only as good as its inviter: one removed or demoted since cannot
      // bring anyone in (FOR SHARE: a demotion in flight waits, or is seen).
      const [inviter] = await tx
        .select({ role: users.role })
        .from(users)
        .where(and(eq(users.tenantId, tenantId), eq(users.id, invitation.invitedBy)))
        .for("share");
      if (!inviter || !hasRole(inviter.role, "admin") || !hasRole(inviter.role, invitation.role)) {
        throw invalidInvitation();
      }
      await tx
        .update(invitations)
        .set({ acceptedAt: now })
        .where(and(eq(invitations.tenantId, tenantId), eq(invitations.id, invitation.id)));
      const [user] = await tx
        .insert(users)
        .values({ tenantId, email: invitation.email, name: input.name, passwordHash, role: invitation.role })
        .returning({ id: users.id, name: users.name, role: users.role });
      if (!user) throw invalidInvitation();
      await enterTenant(tx, { tenantId, userId: user.id }, { statementTimeoutMs: ctx.config.statementTimeoutMs });
      const session = await startSession(
        tx,
        ctx,
        { tenantId, userId: user.id },
        { action: "invitation.accepted", targetType: "invitation", targetId: invitation.id },
        { type: "member.joined", entityId: user.id, projectId: null, payload: user },
      );
      await sendVerification(tx, ctx, {
        tenantId,
        userId: user.id,
        email: invitation.email,
        name: input.name,
        workspace: tenant?.name ?? "",
      });
      return session;
    },
    { statementTimeoutMs: ctx.config.statementTimeoutMs },
  );
  return session;
}
