import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import { tenants } from "../../db/schema.js";
import { audit } from "../audit.js";
import { tenantColumns } from "../auth/shapes.js";
import { notFound } from "../errors.js";
import { forKeys } from "../outputs.js";
import { cancelDeletion, scheduleDeletion, scheduleDeletionInput } from "../tenant/deletion.js";
import { exportTicketSeconds } from "../tenant/export-route.js";
import { adminProcedure, ownerProcedure, router, signedInProcedure, tenantProcedure } from "../trpc.js";
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

  /** The name, and whether members must verify their email before they change anything. */
  update: adminProcedure
    .input(z.object({ name: nameField.optional(), requireVerifiedEmail: z.boolean().optional() }))
    .mutation(async ({ ctx, input }) => {
      const [tenant] = await ctx.db
        .update(tenants)
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.requireVerifiedEmail !== undefined ? { requireVerifiedEmail: input.requireVerifiedEmail } : {}),
          updatedAt: sql`now()`,
        })
        .where(eq(tenants.id, ctx.member.tenantId))
        .returning(tenantColumns);
      if (!tenant) throw notFound("Tenant");
      await audit(ctx, { action: "tenant.updated", targetType: "tenant", targetId: tenant.id });
      return tenant;
    }),
});
