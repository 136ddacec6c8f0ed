import { TRPCError } from "@trpc/server";
import { and, eq, gt, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { invitations, tasks, tenants, users } from "../../db/schema.js";
import type { Tx } from "../../db/types.js";
import { audit, auditEach } from "../audit.js";
import { removeFactors } from "../auth/mfa.js";
import { revokeSessions } from "../auth/sessions.js";
import { memberColumns } from "../auth/shapes.js";
import { makeOpaqueToken, sha256Hex } from "../auth/tokens.js";
import { notFound } from "../errors.js";
import { secondFactorMail } from "../mail/messages.js";
import { enqueueMail } from "../mail/outbox.js";
import { forKeys } from "../outputs.js";
import { afterCursor, newestFirst, pageInput, toPage } from "../pagination.js";
import { hasRole } from "../roles.js";
import { adminProcedure, ownerProcedure, router, tenantProcedure } from "../trpc.js";
import { emailField, idField } from "../validation.js";
import { taskChange, taskColumns } from "./tasks.js";

const invitationTtlMs = 7 * 86_400_000;

const lastOwner = () => new TRPCError({ code: "CONFLICT", message: "A tenant must keep at least one owner" });

/**
 * Locks the tenant's owner rows and the target's, so two concurrent demotions or removals cannot
 * both see "another owner remains" and leave the tenant without one.
 */
async function lockForOwnershipChange(tx: Tx, tenantId: string, userId: string) {
  const owners = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.role, "owner")))
    .for("update");
  const [target] = await tx
    .select({ id: users.id, role: users.role })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, userId)))
    .for("update");
  if (!target) throw notFound("Member");
  return { target, ownerCount: owners.length };
}

export const membersRouter = router({
  list: tenantProcedure
    .meta(forKeys)
    .input(pageInput)
    .query(async ({ ctx, input }) => {
      const rows = await ctx.db
        .select(memberColumns)
        .from(users)
        .where(and(eq(users.tenantId, ctx.member.tenantId), afterCursor(users.createdAt, users.id, input.cursor)))
        .orderBy(...newestFirst(users.createdAt, users.id))
        .limit(input.limit + 1);
      return toPage(rows, input.limit);
    }),

  invite: adminProcedure
    .input(z.object({ email: emailField, role: z.enum(["admin", "member"]) }))
    .mutation(async ({ ctx, input }) => {
      const { tenantId, userId } = ctx.member;
      const [existing] = await ctx.db
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.tenantId, tenantId), eq(users.email, input.email)));
      if (existing) throw new TRPCError({ code: "CONFLICT", message: "That email is already a member" });
      const token = makeOpaqueToken("inv", tenantId);
      const expiresAt = new Date(ctx.clock.now().getTime() + invitationTtlMs);
      const [invitation] = await ctx.db
        .insert(invitations)
        .values({
          tenantId,
          email: input.email,
          role: input.role,
          tokenHash: await sha256Hex(token),
          invitedBy: userId,
          expiresAt,
        })
        .returning({ id: invitations.id });
      if (!invitation) throw new TRPCError({ code: "INTERNAL_SERVER_ERROR" });
      await audit(ctx, { action: "member.invited", targetType: "invitation", targetId: invitation.id });
      return { invitationId: invitation.id, token, expiresAt };
    }),

  /** Pending invitations (not accepted, not expired), newest first: what an admin may revoke. */
  invitations: adminProcedure.input(pageInput).query(async ({ ctx, input }) => {
    const { tenantId } = ctx.member;
    const rows = await ctx.db
      .select({
        id: invitations.id,
        email: invitations.email,
        role: invitations.role,
        invitedBy: invitations.invitedBy,
        expiresAt: invitations.expiresAt,
        createdAt: invitations.createdAt,
      })
      .from(invitations)
      .where(
        and(
          eq(invitations.tenantId, tenantId),
          isNull(invitations.acceptedAt),
          gt(invitations.expiresAt, ctx.clock.now()),
          afterCursor(invitations.createdAt, invitations.id, input.cursor),
        ),
      )
      .orderBy(...newestFirst(invitations.createdAt, invitations.id))
      .limit(input.limit + 1);
    return toPage(rows, input.limit);
  }),

  /** Revokes a pending invitation: its token stops working at once. */
  revokeInvitation: adminProcedure.input(z.object({ invitationId: idField })).mutation(async ({ ctx, input }) => {
    const { tenantId } = ctx.member;
    const [revoked] = await ctx.db
      .delete(invitations)
      .where(
        and(eq(invitations.tenantId, tenantId), eq(invitations.id, input.invitationId), isNull(invitations.acceptedAt)),
      )
      .returning({ id: invitations.id });
    if (!revoked) throw notFound("Invitation");
    await audit(ctx, { action: "invitation.revoked", targetType: "invitation", targetId: revoked.id });
    return { ok: true as const };
  }),

  updateRole: ownerProcedure
    .input(z.object({ userId: idField, role: z.enum(["owner", "admin", "member"]) }))
    .mutation(async ({ ctx, input }) => {
      const { tenantId } = ctx.member;
      const { target, ownerCount } = await lockForOwnershipChange(ctx.db, tenantId, input.userId);
      if (target.role === "owner" && input.role !== "owner" && ownerCount <= 1) throw lastOwner();
      const [member] = await ctx.db
        .update(users)
        .set({ role: input.role, updatedAt: sql`now()` })
        .where(and(eq(users.tenantId, tenantId), eq(users.id, input.userId)))
        .returning(memberColumns);
      if (!member) throw notFound("Member");
      await audit(
        ctx,
        { action: "member.role_changed", targetType: "user", targetId: member.id },
        {
          type: "member.role_changed",
          entityId: member.id,
          projectId: null,
          payload: { id: member.id, role: member.role },
        },
      );
      return member;
    }),

  /** Ends every session of a member (an admin, for a member of a role no higher than theirs). */
  signOut: adminProcedure.input(z.object({ userId: idField })).mutation(async ({ ctx, input }) => {
    const { tenantId, role } = ctx.member;
    const [target] = await ctx.db
      .select({ role: users.role })
      .from(users)
      .where(and(eq(users.tenantId, tenantId), eq(users.id, input.userId)));
    if (!target) throw notFound("Member");
    if (!hasRole(role, target.role)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `Only an ${target.role} can sign out an ${target.role}` });
    }
    const sessions = await revokeSessions(ctx.db, { tenantId, userId: input.userId }, ctx.clock.now());
    await audit(ctx, { action: "member.signed_out", targetType: "user", targetId: input.userId });
    return { ok: true as const, sessions };
  }),

  /**
   * Resets a member's second factors (a lost phone): their TOTP and recovery codes are deleted,
   * they are told by mail, and they set up a factor again (held at that if the workspace requires
   * one). Never one's own: that is `auth.mfa.totp.disable`, with a code. Only an owner resets an owner.
   */
  resetMfa: adminProcedure.input(z.object({ userId: idField })).mutation(async ({ ctx, input }) => {
    const { tenantId, userId, role } = ctx.member;
    if (input.userId === userId) {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: "You cannot reset your own two-factor sign-in: turn it off from your account with a code",
      });
    }
    const [target] = await ctx.db
      .select({ email: users.email, name: users.name, role: users.role, workspace: tenants.name })
      .from(users)
      .innerJoin(tenants, eq(tenants.id, users.tenantId))
      .where(and(eq(users.tenantId, tenantId), eq(users.id, input.userId)));
    if (!target) throw notFound("Member");
    if (target.role === "owner" && !hasRole(role, "owner")) {
      throw new TRPCError({ code: "FORBIDDEN", message: "Only an owner can reset an owner's two-factor sign-in" });
    }
    const [admin] = await ctx.db
      .select({ name: users.name })
      .from(users)
      .where(and(eq(users.tenantId, tenantId), eq(users.id, userId)));
    await removeFactors(ctx.db, { tenantId, userId: input.userId });
    const what = { kind: "reset", by: admin?.name ?? "An admin" } as const;
    await enqueueMail(ctx.db, tenantId, secondFactorMail(ctx.config.mail, target, target.workspace, what));
    await audit(ctx, { action: "member.mfa_reset", targetType: "user", targetId: input.userId });
    return { ok: true as const };
  }),

  remove: adminProcedure.input(z.object({ userId: idField })).mutation(async ({ ctx, input }) => {
    const { tenantId, role } = ctx.member;
    const { target, ownerCount } = await lockForOwnershipChange(ctx.db, tenantId, input.userId);
    if (target.role === "owner") {
      if (!hasRole(role, "owner"))
        throw new TRPCError({ code: "FORBIDDEN", message: "Only an owner can remove an owner" });
      if (ownerCount <= 1) throw lastOwner();
    }
    // Their tasks are unassigned first, each audited (the assignee key is NO ACTION, as Citus
    // needs: drizzle/0017_citus_ready.sql); their refresh tokens go with the row (FK cascade).
    // The row lock above keeps anyone from assigning them a task meanwhile.
    const unassigned = await ctx.db
      .update(tasks)
      .set({ assigneeId: null, updatedAt: sql`now()` })
      .where(and(eq(tasks.tenantId, tenantId), eq(tasks.assigneeId, input.userId)))
      .returning(taskColumns);
    await ctx.db.delete(users).where(and(eq(users.tenantId, tenantId), eq(users.id, input.userId)));
    // One statement for all of it; the removal's event wakes the tenant's streams, so the
    // removed member's own ends at once (server/routers/events.ts).
    await auditEach(ctx, [
      ...unassigned.map((task) => ({
        entry: { action: "task.unassigned", targetType: "task", targetId: task.id },
        change: taskChange("task.updated", task),
      })),
      {
        entry: { action: "member.removed", targetType: "user", targetId: input.userId },
        change: { type: "member.removed", entityId: input.userId, projectId: null, payload: { id: input.userId } },
      },
    ]);
    return { ok: true as const };
  }),
});
