import { auditEvents } from "../db/schema.js";
import type { Tx } from "../db/types.js";

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string | null;
}

interface AuditContext {
  db: Tx;
  member: { tenantId: string; userId: string };
  requestId: string;
  clientAddress: string | null;
}

/**
 * Records a mutation in the tenant's audit trail, in the request's own transaction: the event
 * exists exactly when the change committed. The tenant and the actor come from `ctx.member`,
 * never from input.
 *
 * @example
 * create: tenantProcedure.input(z.object({ name: nameField })).mutation(async ({ ctx, input }) => {
 *   const [label] = await ctx.db.insert(labels).values({ tenantId: ctx.member.tenantId, name: input.name }).returning();
 *   await audit(ctx, { action: "label.created", targetType: "label", targetId: label.id });
 *   return label;
 * }),
 */
export async function audit(ctx: AuditContext, entry: AuditEntry): Promise<void> {
  await recordAudit(ctx.db, { ...entry, tenantId: ctx.member.tenantId, actorId: ctx.member.userId }, ctx);
}

/** Several events of one change in one statement (none: nothing is written). */
export async function auditEach(ctx: AuditContext, entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await ctx.db.insert(auditEvents).values(
    entries.map((entry) => ({
      ...entry,
      tenantId: ctx.member.tenantId,
      actorId: ctx.member.userId,
      requestId: ctx.requestId,
      clientAddress: ctx.clientAddress,
    })),
  );
}

/** The same for paths that are not yet a member's request (registration, login, invitations). */
export async function recordAudit(
  tx: Tx,
  event: AuditEntry & { tenantId: string; actorId: string | null },
  request: { requestId: string; clientAddress: string | null },
): Promise<void> {
  await tx.insert(auditEvents).values({
    tenantId: event.tenantId,
    actorId: event.actorId,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId,
    requestId: request.requestId,
    clientAddress: request.clientAddress,
  });
}
