import { TRPCError } from "@trpc/server";
import { and, count, eq, gt, isNull, or, sql } from "drizzle-orm";
import { z } from "zod";
import { apiKeyRoles, apiKeys, tenants, users } from "../../db/schema.js";
import { audit, eventsChannel } from "../audit.js";
import { makeApiKey } from "../auth/api-keys.js";
import { notFound } from "../errors.js";
import { afterCursor, newestFirst, pageInput, toPage } from "../pagination.js";
import { hasRole } from "../roles.js";
import { adminProcedure, router } from "../trpc.js";
import { idField, nameField } from "../validation.js";

/** Live (neither revoked nor expired) keys one workspace may hold. */
export const maxLiveKeys = 100;

/** What `create` returns of a key besides the key itself: never its hash. */
const madeColumns = {
  id: apiKeys.id,
  name: apiKeys.name,
  prefix: apiKeys.prefix,
  role: apiKeys.role,
  readOnly: apiKeys.readOnly,
  createdAt: apiKeys.createdAt,
  expiresAt: apiKeys.expiresAt,
};

/** A key as `apiKeys.list` shows it: never its secret or hash. */
const keyColumns = {
  ...madeColumns,
  lastUsedAt: apiKeys.lastUsedAt,
  revokedAt: apiKeys.revokedAt,
  createdById: apiKeys.createdBy,
  creatorName: users.name,
  creatorEmail: users.email,
};

/**
 * Workspace API keys, for admins and owners signed in as themselves: no key can call these
 * (they carry no `apiKeys` meta), whatever its role. Keys belong to the workspace: they outlive
 * the member who made them, whose removal then shows in `list` (`createdBy.removed`).
 */
export const apiKeysRouter = router({
  create: adminProcedure
    .input(
      z.object({
        name: nameField,
        role: z.enum(apiKeyRoles),
        readOnly: z.boolean().default(false),
        expiresAt: z.coerce.date().nullish(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { tenantId, userId, role } = ctx.member;
      // A key's role never exceeds its creator's.
      if (!hasRole(role, input.role)) {
        throw new TRPCError({ code: "FORBIDDEN", message: `You cannot make a key with the ${input.role} role` });
      }
      if (input.expiresAt && input.expiresAt.getTime() <= ctx.clock.now().getTime()) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "Invalid input: expiresAt: must be in the future" });
      }
      // Creations queue on the workspace's row, so concurrent ones cannot both pass the cap.
      await ctx.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).for("no key update");
      const [live] = await ctx.db
        .select({ n: count() })
        .from(apiKeys)
        .where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt), liveAt(ctx.clock.now())));
      if ((live?.n ?? 0) >= maxLiveKeys) {
        throw new TRPCError({
          code: "CONFLICT",
          message: `A workspace may hold ${maxLiveKeys} live API keys: revoke one first`,
        });
      }
      const made = await makeApiKey(tenantId);
      const [key] = await ctx.db
        .insert(apiKeys)
        .values({
          tenantId,
          id: made.id,
          name: input.name,
          prefix: made.prefix,
          secretHash: made.secretHash,
          role: input.role,
          readOnly: input.readOnly,
          createdBy: userId,
          expiresAt: input.expiresAt ?? null,
        })
        .returning(madeColumns);
      if (!key) throw notFound("API key");
      await audit(ctx, { action: "api_key.created", targetType: "api_key", targetId: key.id });
      // The key itself, this once: only its hash is kept.
      return { ...key, key: made.key };
    }),

  list: adminProcedure.input(pageInput).query(async ({ ctx, input }) => {
    const rows = await ctx.db
      .select(keyColumns)
      .from(apiKeys)
      .leftJoin(users, and(eq(users.tenantId, apiKeys.tenantId), eq(users.id, apiKeys.createdBy)))
      .where(and(eq(apiKeys.tenantId, ctx.member.tenantId), afterCursor(apiKeys.createdAt, apiKeys.id, input.cursor)))
      .orderBy(...newestFirst(apiKeys.createdAt, apiKeys.id))
      .limit(input.limit + 1);
    const page = toPage(rows, input.limit);
    return {
      nextCursor: page.nextCursor,
      items: page.items.map(({ createdById, creatorName, creatorEmail, ...key }) => ({
        ...key,
        // The creator may have left the workspace: the key stays, and says so.
        createdBy: { id: createdById, name: creatorName, email: creatorEmail, removed: creatorName === null },
      })),
    };
  }),

  revoke: adminProcedure.input(z.object({ id: idField })).mutation(async ({ ctx, input }) => {
    const [key] = await ctx.db
      .update(apiKeys)
      .set({ revokedAt: sql`now()`, revokedBy: ctx.member.userId })
      .where(and(eq(apiKeys.tenantId, ctx.member.tenantId), eq(apiKeys.id, input.id), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    if (!key) throw notFound("API key");
    await audit(ctx, { action: "api_key.revoked", targetType: "api_key", targetId: key.id });
    // Its live streams re-check it at once, not at their next poll (delivered at commit).
    await ctx.db.execute(sql`select pg_notify(${eventsChannel}, ${ctx.member.tenantId}::text)`);
    return { ok: true as const };
  }),
});

const liveAt = (now: Date) => or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now));
