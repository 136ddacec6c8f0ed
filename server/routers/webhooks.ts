/**
 * A workspace's webhook endpoints (admins and owners): each receives the change events of the
 * types it names, signed as the Standard Webhooks spec says (server/webhooks/dispatcher.ts).
 * The secret is returned once, by `create` and `rotateSecret`; nothing else ever shows it.
 * Every change is audited. Another workspace's id is NOT_FOUND, like one that never existed.
 */
import { TRPCError } from "@trpc/server";
import { and, eq, sql } from "drizzle-orm";
import { z } from "zod";
import { eventTypes, webhookDeliveries, webhooks } from "../../db/schema.js";
import { audit } from "../audit.js";
import { notFound } from "../errors.js";
import { forKeys } from "../outputs.js";
import { afterCursor, newestFirst, pageInput, toPage } from "../pagination.js";
import { adminProcedure, router } from "../trpc.js";
import { idField } from "../validation.js";
import { urlProblem } from "../webhooks/addresses.js";

/** How long a rotated-out secret still signs beside the new one. */
const rotationOverlapHours = 24;

const eventsField = z.array(z.enum(eventTypes)).min(1).max(eventTypes.length);

/** A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks writes them. */
function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

const endpointColumns = {
  id: webhooks.id,
  url: webhooks.url,
  events: webhooks.eventTypes,
  enabled: webhooks.enabled,
  consecutiveDead: webhooks.consecutiveDead,
  disabledAt: webhooks.disabledAt,
  createdBy: webhooks.createdBy,
  createdAt: webhooks.createdAt,
  updatedAt: webhooks.updatedAt,
};

const deliveryColumns = {
  id: webhookDeliveries.id,
  webhookId: webhookDeliveries.webhookId,
  eventId: webhookDeliveries.eventId,
  eventType: sql<string>`${webhookDeliveries.payload}->>'type'`,
  status: webhookDeliveries.status,
  attempts: webhookDeliveries.attempts,
  lastStatus: webhookDeliveries.lastStatus,
  lastError: webhookDeliveries.lastError,
  nextAttemptAt: webhookDeliveries.nextAttemptAt,
  createdAt: webhookDeliveries.createdAt,
  settledAt: webhookDeliveries.settledAt,
};

export const webhooksRouter = router({
  /** Registers an endpoint; its signing secret is in this answer and never again. */
  create: adminProcedure
    .meta(forKeys)
    .input(z.object({ url: z.string().trim().max(2000), events: eventsField }))
    .mutation(async ({ ctx, input }) => {
      const problem = urlProblem(input.url, ctx.config.webhooks.allowPrivateTargets);
      if (problem) throw new TRPCError({ code: "BAD_REQUEST", message: `Invalid input: url: ${problem}` });
      const secret = newSecret();
      const [endpoint] = await ctx.db
        .insert(webhooks)
        .values({
          tenantId: ctx.member.tenantId,
          url: input.url,
          eventTypes: [...new Set(input.events)],
          secret,
          createdBy: ctx.member.userId,
        })
        .returning(endpointColumns);
      if (!endpoint) throw notFound("Webhook");
      await audit(ctx, { action: "webhook.created", targetType: "webhook", targetId: endpoint.id });
      return { ...endpoint, secret };
    }),

  list: adminProcedure.meta(forKeys).query(async ({ ctx }) => {
    return ctx.db
      .select(endpointColumns)
      .from(webhooks)
      .where(eq(webhooks.tenantId, ctx.member.tenantId))
      .orderBy(...newestFirst(webhooks.createdAt, webhooks.id))
      .limit(100);
  }),

  /** Changes the URL or the event types, or turns the endpoint off or on (on again: its count of dead deliveries starts over). */
  update: adminProcedure
    .meta(forKeys)
    .input(
      z.object({
        id: idField,
        url: z.string().trim().max(2000).optional(),
        events: eventsField.optional(),
        enabled: z.boolean().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      if (input.url !== undefined) {
        const problem = urlProblem(input.url, ctx.config.webhooks.allowPrivateTargets);
        if (problem) throw new TRPCError({ code: "BAD_REQUEST", message: `Invalid input: url: ${problem}` });
      }
      const [endpoint] = await ctx.db
        .update(webhooks)
        .set({
          ...(input.url !== undefined ? { url: input.url } : {}),
          ...(input.events !== undefined ? { eventTypes: [...new Set(input.events)] } : {}),
          ...(input.enabled === true ? { enabled: true, consecutiveDead: 0, disabledAt: null } : {}),
          ...(input.enabled === false ? { enabled: false, disabledAt: sql`now()` } : {}),
          updatedAt: sql`now()`,
        })
        .where(and(eq(webhooks.tenantId, ctx.member.tenantId), eq(webhooks.id, input.id)))
        .returning(endpointColumns);
      if (!endpoint) throw notFound("Webhook");
      await audit(ctx, { action: "webhook.updated", targetType: "webhook", targetId: endpoint.id });
      return endpoint;
    }),

  delete: adminProcedure
    .meta(forKeys)
    .input(z.object({ id: idField }))
    .mutation(async ({ ctx, input }) => {
      const deleted = await ctx.db
        .delete(webhooks)
        .where(and(eq(webhooks.tenantId, ctx.member.tenantId), eq(webhooks.id, input.id)))
        .returning({ id: webhooks.id });
      if (deleted.length === 0) throw notFound("Webhook");
      await audit(ctx, { action: "webhook.deleted", targetType: "webhook", targetId: input.id });
      return { ok: true as const };
    }),

  /**
   * A new secret, returned once. The previous one keeps signing beside it for 24 hours (each
   * delivery carries both signatures), so a receiver can switch without losing a delivery.
   */
  rotateSecret: adminProcedure
    .meta(forKeys)
    .input(z.object({ id: idField }))
    .mutation(async ({ ctx, input }) => {
      const secret = newSecret();
      const [endpoint] = await ctx.db
        .update(webhooks)
        .set({
          previousSecret: sql`${webhooks.secret}`,
          previousSecretUntil: sql`now() + make_interval(hours => ${rotationOverlapHours})`,
          secret,
          updatedAt: sql`now()`,
        })
        .where(and(eq(webhooks.tenantId, ctx.member.tenantId), eq(webhooks.id, input.id)))
        .returning({ id: webhooks.id });
      if (!endpoint) throw notFound("Webhook");
      await audit(ctx, { action: "webhook.secret_rotated", targetType: "webhook", targetId: endpoint.id });
      return { id: endpoint.id, secret };
    }),

  deliveries: router({
    /** An endpoint's deliveries, newest first: status, attempts, the last answer and error. */
    list: adminProcedure
      .meta(forKeys)
      .input(pageInput.extend({ webhookId: idField }))
      .query(async ({ ctx, input }) => {
        const { tenantId } = ctx.member;
        const [endpoint] = await ctx.db
          .select({ id: webhooks.id })
          .from(webhooks)
          .where(and(eq(webhooks.tenantId, tenantId), eq(webhooks.id, input.webhookId)));
        if (!endpoint) throw notFound("Webhook");
        const rows = await ctx.db
          .select(deliveryColumns)
          .from(webhookDeliveries)
          .where(
            and(
              eq(webhookDeliveries.tenantId, tenantId),
              eq(webhookDeliveries.webhookId, input.webhookId),
              afterCursor(webhookDeliveries.createdAt, webhookDeliveries.id, input.cursor),
            ),
          )
          .orderBy(...newestFirst(webhookDeliveries.createdAt, webhookDeliveries.id))
          .limit(input.limit + 1);
        return toPage(rows, input.limit);
      }),
  }),

  /** Sends a delivery again, from its first attempt, with the same `webhook-id` (receivers dedupe on it). */
  redeliver: adminProcedure
    .meta(forKeys)
    .input(z.object({ deliveryId: idField }))
    .mutation(async ({ ctx, input }) => {
      const { tenantId } = ctx.member;
      const [delivery] = await ctx.db
        .select({ webhookId: webhookDeliveries.webhookId, enabled: webhooks.enabled, status: webhookDeliveries.status })
        .from(webhookDeliveries)
        .innerJoin(
          webhooks,
          and(eq(webhooks.tenantId, webhookDeliveries.tenantId), eq(webhooks.id, webhookDeliveries.webhookId)),
        )
        .where(and(eq(webhookDeliveries.tenantId, tenantId), eq(webhookDeliveries.id, input.deliveryId)));
      if (!delivery) throw notFound("Delivery");
      if (!delivery.enabled) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "The endpoint is disabled: turn it on first" });
      }
      if (delivery.status === "pending") {
        throw new TRPCError({ code: "CONFLICT", message: "The delivery is still being tried" });
      }
      await ctx.db
        .update(webhookDeliveries)
        .set({
          status: "pending",
          attempts: 0,
          nextAttemptAt: sql`now()`,
          lastError: null,
          lastStatus: null,
          settledAt: null,
          claimId: null,
          claimedUntil: null,
        })
        .where(and(eq(webhookDeliveries.tenantId, tenantId), eq(webhookDeliveries.id, input.deliveryId)));
      await audit(ctx, { action: "webhook.redelivered", targetType: "webhook_delivery", targetId: input.deliveryId });
      return { ok: true as const };
    }),
});
