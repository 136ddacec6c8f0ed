import { sql } from "drizzle-orm";
import type { EventType } from "../db/schema.js";
import type { Tx } from "../db/types.js";

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string | null;
}

/**
 * A change to one entity, for the tenant's event log (`events`): what live subscriptions stream
 * and webhooks will deliver. The payload is what a client needs to update its cache, never a
 * secret, a token or a hash.
 */
export interface ChangeEvent {
  type: EventType;
  entityId: string;
  /** The project it belongs to, or null (with `taskId`: that task's project, read in the same call). */
  projectId: string | null;
  /** A comment's task, whose project the event then names. */
  taskId?: string;
  payload: Record<string, unknown>;
}

/** One audit row, and the change event it goes with, if any. */
export interface Audited {
  entry: AuditEntry;
  change?: ChangeEvent | undefined;
}

interface AuditContext {
  db: Tx;
  member: { tenantId: string; userId: string };
  requestId: string;
  clientAddress: string | null;
}

interface RequestFacts {
  requestId: string;
  clientAddress: string | null;
}

/**
 * Records a mutation in the tenant's audit trail, and its change in the event log, in the
 * request's own transaction: both exist exactly when the change committed. The tenant and the
 * actor come from `ctx.member`, never from input.
 *
 * @example
 * create: tenantProcedure.input(z.object({ name: nameField })).mutation(async ({ ctx, input }) => {
 *   const [label] = await ctx.db.insert(labels).values({ tenantId: ctx.member.tenantId, name: input.name }).returning();
 *   await audit(ctx, { action: "label.created", targetType: "label", targetId: label.id });
 *   return label;
 * }),
 */
export async function audit(ctx: AuditContext, entry: AuditEntry, change?: ChangeEvent): Promise<void> {
  await auditEach(ctx, [{ entry, change }]);
}

/** Several audit rows (and their events) of one change in one call; none: nothing is written. */
export async function auditEach(ctx: AuditContext, items: Audited[]): Promise<void> {
  await writeAudit(ctx.db, ctx.member.tenantId, ctx.member.userId, ctx, items);
}

/** The same for paths that are not yet a member's request (registration, login, invitations). */
export async function recordAudit(
  tx: Tx,
  event: AuditEntry & { tenantId: string; actorId: string | null },
  request: RequestFacts,
  change?: ChangeEvent,
): Promise<void> {
  const { tenantId, actorId, ...entry } = event;
  await writeAudit(tx, tenantId, actorId, request, [{ entry, change }]);
}

/** The channel whose notifications wake a tenant's live streams (app.record_audit); the payload is the tenant id. */
export const eventsChannel = "bulkhead_events";

/**
 * One call, one round trip: `app.record_audit` writes the audit rows; with changes, the tenant's
 * next event ids (its `event_sequences` row, which this transaction then holds until it commits,
 * so a tenant's ids commit in their order, without gaps), the events, and a NOTIFY that
 * PostgreSQL delivers only at commit (docs/decisions/024-events-beside-the-audit-row.md).
 */
async function writeAudit(
  tx: Tx,
  tenantId: string,
  actorId: string | null,
  request: RequestFacts,
  items: Audited[],
): Promise<void> {
  if (items.length === 0) return;
  const audits = items.map(({ entry }) => ({
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
  }));
  const changes = items.flatMap(({ change }) =>
    change
      ? [
          {
            type: change.type,
            entity_id: change.entityId,
            project_id: change.projectId,
            task_id: change.taskId ?? null,
            payload: change.payload,
          },
        ]
      : [],
  );
  await tx.execute(
    sql`select app.record_audit(${tenantId}::uuid, ${actorId}::uuid, ${request.requestId}::text, ${request.clientAddress}::inet, ${JSON.stringify(audits)}::jsonb, ${JSON.stringify(changes)}::jsonb)`,
  );
}
