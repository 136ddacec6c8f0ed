import { and, eq } from "drizzle-orm";
import { auditEvents } from "../../db/schema.js";
import { auditEventOutput, pageOf, rest } from "../outputs.js";
import { afterCursor, newestFirst, pageInput, toPage } from "../pagination.js";
import { adminProcedure, router } from "../trpc.js";

export type AuditEvent = {
  id: string;
  actorId: string | null;
  actorType: "user" | "api_key";
  action: string;
  targetType: string;
  targetId: string | null;
  requestId: string | null;
  clientAddress: string | null;
  createdAt: Date;
};

export const auditRouter = router({
  list: adminProcedure
    .meta(rest("GET", "/audit", "audit", "The workspace's audit trail, newest first (admins)"))
    .input(pageInput)
    .output(pageOf(auditEventOutput))
    .query(async ({ ctx, input }) => {
      const rows = await ctx.db
        .select({
          id: auditEvents.id,
          actorId: auditEvents.actorId,
          actorType: auditEvents.actorType,
          action: auditEvents.action,
          targetType: auditEvents.targetType,
          targetId: auditEvents.targetId,
          requestId: auditEvents.requestId,
          clientAddress: auditEvents.clientAddress,
          createdAt: auditEvents.createdAt,
        })
        .from(auditEvents)
        .where(
          and(
            eq(auditEvents.tenantId, ctx.member.tenantId),
            afterCursor(auditEvents.createdAt, auditEvents.id, input.cursor),
          ),
        )
        .orderBy(...newestFirst(auditEvents.createdAt, auditEvents.id))
        .limit(input.limit + 1);
      return toPage(rows, input.limit);
    }),
});
