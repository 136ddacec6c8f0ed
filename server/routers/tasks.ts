import { and, eq, sql } from "drizzle-orm";
import { z } from "zod";
import { sqlState, sqlStateOf } from "../../db/errors.js";
import { epochDate, type RowDecoder, readFunction } from "../../db/reads.js";
import { projects, taskStatuses, tasks, users } from "../../db/schema.js";
import type { Tx } from "../../db/types.js";
import { audit } from "../audit.js";
import { notFound } from "../errors.js";
import { afterArgs, pageInput, toPage } from "../pagination.js";
import { router, tenantProcedure, tenantReadProcedure } from "../trpc.js";
import { idField, nameField } from "../validation.js";

const taskColumns = {
  id: tasks.id,
  projectId: tasks.projectId,
  title: tasks.title,
  status: tasks.status,
  assigneeId: tasks.assigneeId,
  createdAt: tasks.createdAt,
  updatedAt: tasks.updatedAt,
};

export type Task = {
  id: string;
  projectId: string;
  title: string;
  status: (typeof taskStatuses)[number];
  assigneeId: string | null;
  createdAt: Date;
  updatedAt: Date;
};

// The composite foreign keys already refuse another tenant's project or member; these checks
// only turn that into a clear NOT_FOUND before the write, indistinguishable from a missing id.
async function assertProject(tx: Tx, tenantId: string, projectId: string) {
  const [project] = await tx
    .select({ id: projects.id })
    .from(projects)
    .where(and(eq(projects.tenantId, tenantId), eq(projects.id, projectId)));
  if (!project) throw notFound("Project");
}

async function assertMember(tx: Tx, tenantId: string, userId: string | null | undefined) {
  if (!userId) return;
  const [user] = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, userId)));
  if (!user) throw notFound("Assignee");
}

const status = z.enum(taskStatuses);

/** `app.read_tasks_page` and `app.read_task` return these columns, in this order. */
const taskRow: RowDecoder<Task> = {
  columns: 7,
  row: (v) => ({
    id: v[0] as string,
    projectId: v[1] as string,
    title: v[2] as string,
    status: v[3] as Task["status"],
    assigneeId: v[4] as string | null,
    createdAt: epochDate(v[5]),
    updatedAt: epochDate(v[6]),
  }),
};

// `list` and `get` are one-statement reads (migration 0006's `app.read_tasks_page`, `app.read_task`).
const readTasksPage = readFunction<
  [
    projectId: string,
    status: Task["status"] | null,
    limit: number,
    afterCreatedAt: string | null,
    afterId: string | null,
  ],
  Task
>("read_tasks_page", ["uuid", "text", "integer", "timestamptz", "uuid"], taskRow);
const readTask = readFunction<[id: string], Task>("read_task", ["uuid"], taskRow);

export const tasksRouter = router({
  list: tenantReadProcedure
    .input(pageInput.extend({ projectId: idField, status: status.optional() }))
    .query(async ({ ctx, input }) => {
      const after = afterArgs(input.cursor); // a malformed cursor is BAD_REQUEST, before any read
      try {
        const rows = await ctx.read(readTasksPage, input.projectId, input.status ?? null, input.limit + 1, ...after);
        return toPage(rows, input.limit);
      } catch (error) {
        // Another tenant's project is as missing as one that never existed.
        if (sqlStateOf(error) === sqlState.scopeNotFound) throw notFound("Project");
        throw error;
      }
    }),

  get: tenantReadProcedure.input(z.object({ id: idField })).query(async ({ ctx, input }) => {
    const [task] = await ctx.read(readTask, input.id);
    if (!task) throw notFound("Task");
    return task satisfies Task;
  }),

  create: tenantProcedure
    .input(z.object({ projectId: idField, title: nameField, assigneeId: idField.nullish() }))
    .mutation(async ({ ctx, input }) => {
      const { tenantId } = ctx.member;
      await assertProject(ctx.db, tenantId, input.projectId);
      await assertMember(ctx.db, tenantId, input.assigneeId);
      const [task] = await ctx.db
        .insert(tasks)
        .values({ tenantId, projectId: input.projectId, title: input.title, assigneeId: input.assigneeId ?? null })
        .returning(taskColumns);
      if (!task) throw notFound("Task");
      await audit(ctx, { action: "task.created", targetType: "task", targetId: task.id });
      return task satisfies Task;
    }),

  update: tenantProcedure
    .input(
      z.object({ id: idField, title: nameField.optional(), status: status.optional(), assigneeId: idField.nullish() }),
    )
    .mutation(async ({ ctx, input }) => {
      const { tenantId } = ctx.member;
      await assertMember(ctx.db, tenantId, input.assigneeId);
      const [task] = await ctx.db
        .update(tasks)
        .set({
          ...(input.title !== undefined ? { title: input.title } : {}),
          ...(input.status !== undefined ? { status: input.status } : {}),
          ...(input.assigneeId !== undefined ? { assigneeId: input.assigneeId } : {}),
          updatedAt: sql`now()`,
        })
        .where(and(eq(tasks.tenantId, tenantId), eq(tasks.id, input.id)))
        .returning(taskColumns);
      if (!task) throw notFound("Task");
      await audit(ctx, { action: "task.updated", targetType: "task", targetId: task.id });
      return task satisfies Task;
    }),

  delete: tenantProcedure.input(z.object({ id: idField })).mutation(async ({ ctx, input }) => {
    const deleted = await ctx.db
      .delete(tasks)
      .where(and(eq(tasks.tenantId, ctx.member.tenantId), eq(tasks.id, input.id)))
      .returning({ id: tasks.id });
    if (deleted.length === 0) throw notFound("Task");
    await audit(ctx, { action: "task.deleted", targetType: "task", targetId: input.id });
    return { ok: true as const };
  }),
});
