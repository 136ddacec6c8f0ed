import { and, eq, getTableColumns, sql } from "drizzle-orm";
import { z } from "zod";
import { prepareRead } from "../../db/reads.js";
import { projects, taskStatuses, tasks } from "../../db/schema.js";
import { audit, type ChangeEvent } from "../audit.js";
import { notFound } from "../errors.js";
import { forKeys, pageOf, rest, taskOutput } from "../outputs.js";
import { newestFirst, pageInput, preparePages, readPage } from "../pagination.js";
import { router, tenantProcedure, tenantReadProcedure } from "../trpc.js";
import { idField, nameField } from "../validation.js";

const { tenantId: _tenantId, ...taskColumns } = getTableColumns(tasks);

export { taskColumns };

/** A task's change event: what a board needs to place the card, not its description. */
export function taskChange(type: "task.created" | "task.updated", task: Task): ChangeEvent {
  const { id, projectId, title, status, assigneeId, updatedAt } = task;
  return { type, entityId: id, projectId, payload: { id, projectId, title, status, assigneeId, updatedAt } };
}

export type Task = Omit<typeof tasks.$inferSelect, "tenantId">;

const status = z.enum(taskStatuses);

const tenantId = sql.placeholder("tenantId");

const taskPages = preparePages((db, start) =>
  db
    .select(taskColumns)
    .from(tasks)
    .where(
      and(
        eq(tasks.tenantId, tenantId),
        eq(tasks.projectId, sql.placeholder("projectId")),
        sql`(${sql.placeholder("status")}::text is null or ${tasks.status} = ${sql.placeholder("status")})`,
        start(tasks.createdAt, tasks.id),
      ),
    )
    .orderBy(...newestFirst(tasks.createdAt, tasks.id))
    .limit(sql.placeholder("limit"))
    .prepare("tasks_page"),
);

const taskById = prepareRead((db) =>
  db
    .select(taskColumns)
    .from(tasks)
    .where(and(eq(tasks.tenantId, tenantId), eq(tasks.id, sql.placeholder("id"))))
    .prepare("task_by_id"),
);

const projectExists = prepareRead((db) =>
  db
    .select({ id: projects.id })
    .from(projects)
    .where(and(eq(projects.tenantId, tenantId), eq(projects.id, sql.placeholder("id"))))
    .prepare("project_exists"),
);

export const tasksRouter = router({
  list: tenantReadProcedure
    .meta(rest("GET", "/projects/{projectId}/tasks", "tasks", "List a project's tasks, newest first"))
    .input(pageInput.extend({ projectId: idField, status: status.optional() }))
    .output(pageOf(taskOutput))
    .query(async ({ ctx, input }) => {
      const values = { tenantId: ctx.member.tenantId, projectId: input.projectId, status: input.status ?? null };
      // Two one-statement reads side by side: the project (another tenant's is as missing as one
      // that never existed) and the page.
      const [project, page] = await Promise.all([
        ctx.read(projectExists, { tenantId: values.tenantId, id: input.projectId }),
        readPage(ctx.read, taskPages, values, input),
      ]);
      if (project.length === 0) throw notFound("Project");
      return page;
    }),

  get: tenantReadProcedure
    .meta(rest("GET", "/tasks/{id}", "tasks", "Get a task"))
    .input(z.object({ id: idField }))
    .output(taskOutput)
    .query(async ({ ctx, input }) => {
      const [task] = await ctx.read(taskById, { tenantId: ctx.member.tenantId, id: input.id });
      if (!task) throw notFound("Task");
      return task satisfies Task;
    }),

  create: tenantProcedure
    .meta(rest("POST", "/projects/{projectId}/tasks", "tasks", "Create a task in a project"))
    .output(taskOutput)
    .input(z.object({ projectId: idField, title: nameField, assigneeId: idField.nullish() }))
    .mutation(async ({ ctx, input }) => {
      const { tenantId } = ctx.member;
      // The composite foreign keys refuse a project or assignee that is not the tenant's own:
      // NOT_FOUND "Project not found" / "Assignee not found", as for an id that never existed.
      const [task] = await ctx.db
        .insert(tasks)
        .values({ tenantId, projectId: input.projectId, title: input.title, assigneeId: input.assigneeId ?? null })
        .returning(taskColumns);
      if (!task) throw notFound("Task");
      await audit(
        ctx,
        { action: "task.created", targetType: "task", targetId: task.id },
        taskChange("task.created", task),
      );
      return task satisfies Task;
    }),

  update: tenantProcedure
    .meta(forKeys)
    .input(
      z.object({ id: idField, title: nameField.optional(), status: status.optional(), assigneeId: idField.nullish() }),
    )
    .mutation(async ({ ctx, input }) => {
      const { tenantId } = ctx.member;
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
      await audit(
        ctx,
        { action: "task.updated", targetType: "task", targetId: task.id },
        taskChange("task.updated", task),
      );
      return task satisfies Task;
    }),

  delete: tenantProcedure
    .meta(forKeys)
    .input(z.object({ id: idField }))
    .mutation(async ({ ctx, input }) => {
      const deleted = await ctx.db
        .delete(tasks)
        .where(and(eq(tasks.tenantId, ctx.member.tenantId), eq(tasks.id, input.id)))
        .returning({ id: tasks.id, projectId: tasks.projectId });
      const [task] = deleted;
      if (!task) throw notFound("Task");
      await audit(
        ctx,
        { action: "task.deleted", targetType: "task", targetId: task.id },
        { type: "task.deleted", entityId: task.id, projectId: task.projectId, payload: task },
      );
      return { ok: true as const };
    }),
});
