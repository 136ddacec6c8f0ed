import { TRPCError } from "@trpc/server";
import { and, eq, getTableColumns, sql } from "drizzle-orm";
import { z } from "zod";
import { prepareRead } from "../../db/reads.js";
import { comments, tasks } from "../../db/schema.js";
import { audit, type ChangeEvent } from "../audit.js";
import { notFound } from "../errors.js";
import { commentOutput, forKeys, pageOf, rest } from "../outputs.js";
import { newestFirst, pageInput, preparePages, readPage } from "../pagination.js";
import { hasRole } from "../roles.js";
import { router, tenantProcedure, tenantReadProcedure } from "../trpc.js";
import { commentField, idField } from "../validation.js";

const { tenantId: _tenantId, ...commentColumns } = getTableColumns(comments);

export type Comment = Omit<typeof comments.$inferSelect, "tenantId">;

const tenantId = sql.placeholder("tenantId");

// A task's comments, newest first: one statement per page, prepared once (db/reads.ts).
const commentPages = preparePages((db, start) =>
  db
    .select(commentColumns)
    .from(comments)
    .where(
      and(
        eq(comments.tenantId, tenantId),
        eq(comments.taskId, sql.placeholder("taskId")),
        start(comments.createdAt, comments.id),
      ),
    )
    .orderBy(...newestFirst(comments.createdAt, comments.id))
    .limit(sql.placeholder("limit"))
    .prepare("comments_page"),
);

const taskExists = prepareRead((db) =>
  db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(eq(tasks.tenantId, tenantId), eq(tasks.id, sql.placeholder("id"))))
    .prepare("task_exists"),
);

const commentById = prepareRead((db) =>
  db
    .select(commentColumns)
    .from(comments)
    .where(and(eq(comments.tenantId, tenantId), eq(comments.id, sql.placeholder("id"))))
    .prepare("comment_by_id"),
);

/** A comment's change event; it names its task's project, which the audit call reads. */
function commentChange(
  type: "comment.created" | "comment.deleted",
  comment: { id: string; taskId: string; authorId: string | null },
): ChangeEvent {
  const { id, taskId, authorId } = comment;
  return { type, entityId: id, projectId: null, taskId, payload: { id, taskId, authorId } };
}

export const commentsRouter = router({
  list: tenantReadProcedure
    .meta(rest("GET", "/tasks/{taskId}/comments", "comments", "List a task's comments, newest first"))
    .input(pageInput.extend({ taskId: idField }))
    .output(pageOf(commentOutput))
    .query(async ({ ctx, input }) => {
      const values = { tenantId: ctx.member.tenantId, taskId: input.taskId };
      // Another tenant's task is as missing as one that never existed.
      const [task, page] = await Promise.all([
        ctx.read(taskExists, { tenantId: values.tenantId, id: input.taskId }),
        readPage(ctx.read, commentPages, values, input),
      ]);
      if (task.length === 0) throw notFound("Task");
      return page;
    }),

  get: tenantReadProcedure
    .meta(rest("GET", "/comments/{id}", "comments", "Get a comment"))
    .input(z.object({ id: idField }))
    .output(commentOutput)
    .query(async ({ ctx, input }) => {
      const [comment] = await ctx.read(commentById, { tenantId: ctx.member.tenantId, id: input.id });
      if (!comment) throw notFound("Comment");
      return comment satisfies Comment;
    }),

  create: tenantProcedure
    .meta(rest("POST", "/tasks/{taskId}/comments", "comments", "Comment on a task"))
    .input(z.object({ taskId: idField, body: commentField }))
    .output(commentOutput)
    .mutation(async ({ ctx, input }) => {
      const { tenantId, userId } = ctx.member;
      // The composite foreign key refuses a task that is not the tenant's own: "Task not found".
      const [comment] = await ctx.db
        .insert(comments)
        .values({ tenantId, taskId: input.taskId, authorId: userId, body: input.body })
        .returning(commentColumns);
      if (!comment) throw notFound("Comment");
      await audit(
        ctx,
        { action: "comment.created", targetType: "comment", targetId: comment.id },
        commentChange("comment.created", comment),
      );
      return comment satisfies Comment;
    }),

  /** By its author, or by an admin or owner. */
  delete: tenantProcedure
    .meta(forKeys)
    .input(z.object({ id: idField }))
    .mutation(async ({ ctx, input }) => {
      const { tenantId, userId, role } = ctx.member;
      const [comment] = await ctx.db
        .select({ authorId: comments.authorId })
        .from(comments)
        .where(and(eq(comments.tenantId, tenantId), eq(comments.id, input.id)));
      if (!comment) throw notFound("Comment");
      if (comment.authorId !== userId && !hasRole(role, "admin")) {
        throw new TRPCError({ code: "FORBIDDEN", message: "Only its author or an admin can delete a comment" });
      }
      const deleted = await ctx.db
        .delete(comments)
        .where(and(eq(comments.tenantId, tenantId), eq(comments.id, input.id)))
        .returning({ id: comments.id, taskId: comments.taskId, authorId: comments.authorId });
      const [gone] = deleted;
      if (!gone) throw notFound("Comment"); // deleted meanwhile
      await audit(
        ctx,
        { action: "comment.deleted", targetType: "comment", targetId: gone.id },
        commentChange("comment.deleted", gone),
      );
      return { ok: true as const };
    }),
});
