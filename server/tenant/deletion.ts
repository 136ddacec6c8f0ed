/**
 * Scheduling a workspace's deletion, and cancelling it. The owner re-enters their password
 * (checked under the login throttle, outside any transaction, like a password change); the
 * workspace then stays readable and exportable, and refuses every change (app.enter_member and
 * app.count_usage, BH423), until TENANT_DELETION_GRACE_DAYS have passed and the prune job erases
 * it (db/erase.ts). Until then the owner may cancel. Both steps are audited, and every owner is
 * mailed (through the outbox, in the same transaction).
 */
import { TRPCError } from "@trpc/server";
import { and, eq, gt, isNotNull, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { tenants, users } from "../../db/schema.js";
import { type MemberContext, withMember } from "../../db/tenant.js";
import type { Tx } from "../../db/types.js";
import { recordAudit } from "../audit.js";
import { confirmOwnPassword, ownAccount } from "../auth/passwords.js";
import { type Tenant, tenantColumns } from "../auth/shapes.js";
import type { Context } from "../context.js";
import { notFound } from "../errors.js";
import { workspaceDeletionMail } from "../mail/messages.js";
import { enqueueMail } from "../mail/outbox.js";
import { lineField } from "../validation.js";

export const scheduleDeletionInput = z.object({ password: lineField().min(1).max(256) });

const ownerOnly = () => new TRPCError({ code: "FORBIDDEN", message: "Requires the owner role" });

// Scheduling and cancelling are the owner's, and not changes to the workspace's data: they run
// while a deletion is pending (which refuses every change) and before email verification.
const notAChange = { write: true, verifiedOnly: false } as const;

/** Audits the change and mails every owner about it, in the change's transaction. */
async function recorded(
  tx: Tx,
  ctx: Context,
  member: MemberContext,
  tenant: Tenant,
  action: "tenant.deletion_scheduled" | "tenant.deletion_cancelled",
) {
  await recordAudit(
    tx,
    { tenantId: member.tenantId, actorId: member.userId, action, targetType: "tenant", targetId: member.tenantId },
    ctx,
  );
  const owners = await tx
    .select({ id: users.id, email: users.email, name: users.name })
    .from(users)
    .where(and(eq(users.tenantId, member.tenantId), eq(users.role, "owner")));
  const by = owners.find((owner) => owner.id === member.userId)?.name ?? "An owner";
  for (const owner of owners) {
    const change = tenant.deletionDueAt ? { dueAt: tenant.deletionDueAt, by } : { cancelledBy: by };
    await enqueueMail(tx, member.tenantId, workspaceDeletionMail(ctx.config.mail, owner, tenant.name, change));
  }
}

export async function scheduleDeletion(
  ctx: Context,
  member: MemberContext,
  input: z.infer<typeof scheduleDeletionInput>,
): Promise<Tenant> {
  const account = await ownAccount(ctx, member);
  if (account.role !== "owner") throw ownerOnly();
  await confirmOwnPassword(ctx, member, account, input.password, "password");
  const tenant = await withMember(ctx.database.db, member, notAChange, async (tx, role) => {
    if (role !== "owner") throw ownerOnly();
    const [scheduled] = await tx
      .update(tenants)
      .set({
        deletionDueAt: sql`now() + make_interval(days => ${ctx.config.tenantDeletionGraceDays}::integer)`,
        deletionRequestedBy: member.userId,
        updatedAt: sql`now()`,
      })
      .where(and(eq(tenants.id, member.tenantId), isNull(tenants.deletionDueAt)))
      .returning(tenantColumns);
    if (scheduled) await recorded(tx, ctx, member, scheduled, "tenant.deletion_scheduled");
    // Already scheduled: the date stands.
    return scheduled ?? (await tx.select(tenantColumns).from(tenants).where(eq(tenants.id, member.tenantId)))[0];
  });
  if (!tenant) throw notFound("Tenant");
  return tenant;
}

export async function cancelDeletion(ctx: Context, member: MemberContext): Promise<Tenant> {
  return withMember(ctx.database.db, member, notAChange, async (tx, role) => {
    if (role !== "owner") throw ownerOnly();
    const [cancelled] = await tx
      .update(tenants)
      .set({ deletionDueAt: null, deletionRequestedBy: null, updatedAt: sql`now()` })
      .where(
        and(eq(tenants.id, member.tenantId), isNotNull(tenants.deletionDueAt), gt(tenants.deletionDueAt, sql`now()`)),
      )
      .returning(tenantColumns);
    if (cancelled) {
      await recorded(tx, ctx, member, cancelled, "tenant.deletion_cancelled");
      return cancelled;
    }
    const [tenant] = await tx.select(tenantColumns).from(tenants).where(eq(tenants.id, member.tenantId));
    if (!tenant) throw notFound("Tenant");
    // Past its date, the erase has begun (or is about to): it cannot be called back.
    if (tenant.deletionDueAt) {
      throw new TRPCError({ code: "CONFLICT", message: "The deletion date has passed: the workspace is being erased" });
    }
    return tenant;
  });
}
