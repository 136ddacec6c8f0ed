/**
 * The tenant's change log, live: `events.onChange` streams it over SSE (tRPC's
 * httpSubscriptionLink), each event `tracked` by its id, so a client that reconnects with the
 * last id it got (`lastEventId`, or the `Last-Event-Id` header tRPC maps to it) gets exactly what
 * it missed. Every read is a one-statement read (`app.read`): the subscriber's member and
 * session are checked again and RLS confines it to their tenant, each time. docs/events.md.
 */
import { tracked } from "@trpc/server";
import { and, asc, eq, getTableColumns, gt, sql } from "drizzle-orm";
import { z } from "zod";
import { prepareRead, readsFor } from "../../db/reads.js";
import { eventSequences, events } from "../../db/schema.js";
import { clientErrorFromDatabase } from "../errors.js";
import { forKeys } from "../outputs.js";
import { router, signedInProcedure, tenantReadProcedure } from "../trpc.js";
import { idField } from "../validation.js";

const { tenantId: _tenantId, ...eventColumns } = getTableColumns(events);

/** An event as a stream carries it (its `id` also the SSE event's id). */
export type ChangeEventRecord = Omit<typeof events.$inferSelect, "tenantId">;

/** Events one read takes at most; a stream that got this many reads again at once. */
const pageSize = 100;

const tenantId = sql.placeholder("tenantId");
const after = sql.placeholder("after");

// Queries name the tenant explicitly, as every read does (the planner uses the key, Citus routes
// to one shard); RLS confines them to the subscriber's tenant whatever they name.
const eventsAfter = prepareRead((db) =>
  db
    .select(eventColumns)
    .from(events)
    .where(and(eq(events.tenantId, tenantId), gt(events.id, after)))
    .orderBy(asc(events.id))
    .limit(pageSize)
    .prepare("events_after"),
);

const projectEventsAfter = prepareRead((db) =>
  db
    .select(eventColumns)
    .from(events)
    .where(and(eq(events.tenantId, tenantId), eq(events.projectId, sql.placeholder("projectId")), gt(events.id, after)))
    .orderBy(asc(events.id))
    .limit(pageSize)
    .prepare("project_events_after"),
);

const eventsHead = prepareRead((db) =>
  db
    .select({ lastId: eventSequences.lastId })
    .from(eventSequences)
    .where(eq(eventSequences.tenantId, tenantId))
    .prepare("events_head"),
);

/** An event id as a client sends it back: digits only. */
const eventIdField = z.string().regex(/^\d{1,15}$/, "an event id is a number");

export const eventsRouter = router({
  /**
   * The tenant's last event id: read it before a list, then subscribe from it, and nothing that
   * changes after the list is missed.
   */
  head: tenantReadProcedure.meta(forKeys).query(async ({ ctx }) => {
    const [row] = await ctx.read(eventsHead, { tenantId: ctx.member.tenantId });
    return { lastEventId: String(row?.lastId ?? 0) };
  }),

  /**
   * The tenant's changes as they commit, in order, each once: from `lastEventId` when given (an
   * id past the tenant's last replays nothing), else from now on; one project's only with
   * `projectId`. Ends with UNAUTHORIZED once the caller is no longer a member or their session
   * is over (within `EVENTS_POLL_MS`, at once for a removal); TOO_MANY_REQUESTS past
   * EVENTS_MAX_STREAMS_PER_USER / _PER_TENANT.
   */
  onChange: signedInProcedure
    .meta(forKeys)
    .input(z.object({ projectId: idField.optional(), lastEventId: eventIdField.nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      const member = ctx.member;
      const stream = ctx.events.open(ctx.database, member, signal, ctx.logger);
      try {
        const reads = readsFor(ctx.database.db, member);
        const [head] = await reads.run(eventsHead, { tenantId: member.tenantId });
        const last = head?.lastId ?? 0;
        let cursor = input.lastEventId == null ? last : Math.min(Number(input.lastEventId), last);
        while (!stream.ended) {
          const values = { tenantId: member.tenantId, after: cursor, projectId: input.projectId };
          const rows = await reads.run(input.projectId ? projectEventsAfter : eventsAfter, values);
          for (const row of rows) {
            cursor = row.id;
            yield tracked(String(row.id), row satisfies ChangeEventRecord);
          }
          if (rows.length < pageSize) await stream.wait();
        }
      } catch (error) {
        throw clientErrorFromDatabase(error) ?? error;
      } finally {
        stream.close();
      }
    }),
});
