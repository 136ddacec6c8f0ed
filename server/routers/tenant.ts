import { TRPCError } from "@trpc/server";
import { and, eq, isNotNull, sql } from "drizzle-orm";
import { z } from "zod";
import { refreshTokens, tenants } from "../../db/schema.js";
import type { Tx } from "../../db/types.js";
import { audit } from "../audit.js";
import { tenantColumns } from "../auth/shapes.js";
import { notFound } from "../errors.js";
import { forKeys } from "../outputs.js";
import { hasRole } from "../roles.js";
import { cancelDeletion, scheduleDeletion, scheduleDeletionInput } from "../tenant/deletion.js";
import { exportTicketSeconds } from "../tenant/export-route.js";
import { adminProcedure, type Member, ownerProcedure, router, signedInProcedure, tenantProcedure } from "../trpc.js";
import { nameField } from "../validation.js";

export const tenantRouter = router({
  get: tenantProcedure.meta(forKeys).query(async ({ ctx }) => {
    const [tenant] = await ctx.db.select(tenantColumns).from(tenants).where(eq(tenants.id, ctx.member.tenantId));
    if (!tenant) throw notFound("Tenant");
    return tenant;
  }),

  /**
   * A link to download the workspace's data (`GET /export?ticket=…`, NDJSON), valid for a
   * minute and for this session: what a browser follows to save the file. Owner only; the
   * download itself is audited. Servers and CLIs can call `GET /export` with the bearer token.
   */
  export: ownerProcedure.query(async ({ ctx }) => {
    const ticket = await ctx.tokens.signTicket("export", ctx.member, exportTicketSeconds);
    return { url: `/export?ticket=${encodeURIComponent(ticket.token)}`, expiresAt: ticket.expiresAt };
  }),

  /**
   * Schedules the workspace's deletion, after the owner re-enters their password: in
   * TENANT_DELETION_GRACE_DAYS the prune job erases every row of it, leaving a tombstone. Until
   * then it can be read and exported but not changed, and the owner can cancel.
   */
  scheduleDeletion: signedInProcedure
    .input(scheduleDeletionInput)
    .mutation(({ ctx, input }) => scheduleDeletion(ctx, ctx.member, input)),

  /** Calls a scheduled deletion off (owner; before its date). */
  cancelDeletion: signedInProcedure.mutation(({ ctx }) => cancelDeletion(ctx, ctx.member)),

  /**
   * The name, whether members must verify their email before they change anything, and (owner
   * only) whether they must sign in with a second factor.
   */
  update: adminProcedure
    .input(
      z.object({
        name: nameField.optional(),
        requireVerifiedEmail: z.boolean().optional(),
        requireMfa: z.boolean().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      if (input.requireMfa !== undefined) await assertMayRequireMfa(ctx, input.requireMfa);
      const [tenant] = await ctx.db
        .update(tenants)
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.requireVerifiedEmail !== undefined ? { requireVerifiedEmail: input.requireVerifiedEmail } : {}),
          ...(input.requireMfa !== undefined ? { requireMfa: input.requireMfa } : {}),
          updatedAt: sql`now()`,
        })
        .where(eq(tenants.id, ctx.member.tenantId))
        .returning(tenantColumns);
      if (!tenant) throw notFound("Tenant");
      const policy = input.requireMfa === undefined ? "updated" : input.requireMfa ? "mfa_required" : "mfa_optional";
      await audit(ctx, { action: `tenant.${policy}`, targetType: "tenant", targetId: tenant.id });
      return tenant;
    }),
});

/**
 * The second-factor policy is the owner's, and an owner turns it on only from a session that
 * proved their own factor: otherwise the next request would hold them out of their workspace.
 */
async function assertMayRequireMfa(ctx: { db: Tx; member: Member }, on: boolean) {
  if (!hasRole(ctx.member.role, "owner")) {
    throw new TRPCError({ code: "FORBIDDEN", message: "Only an owner can change the two-factor policy" });
  }
  if (!on) return;
  const [proved] = await ctx.db
    .select({ at: refreshTokens.secondFactorAt })
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.tenantId, ctx.member.tenantId),
        eq(refreshTokens.familyId, ctx.member.sessionId),
        isNotNull(refreshTokens.secondFactorAt),
      ),
    )
    .limit(1);
  if (!proved) {
    throw new TRPCError({
      code: "PRECONDITION_FAILED",
      message: "Set up two-factor sign-in yourself, and sign in with it, before requiring it of everyone",
    });
  }
}
