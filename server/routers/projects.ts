import { and, count, eq, getTableColumns, sql } from "drizzle-orm";
import { z } from "zod";
import { prepareRead, type Reads } from "../../db/reads.js";
import { projects } from "../../db/schema.js";
import { audit, type ChangeEvent } from "../audit.js";
import { notFound } from "../errors.js";
import { forKeys, pageOf, projectOutput, rest } from "../outputs.js";
import { newestFirst, pageInput, preparePages, readPage } from "../pagination.js";
import { adminProcedure, type Caller, router, tenantProcedure, tenantReadProcedure } from "../trpc.js";
import { descriptionField, idField, nameField } from "../validation.js";

const { tenantId: _tenantId, ...projectColumns } = getTableColumns(projects);

export type Project = Omit<typeof projects.$inferSelect, "tenantId">;

const tenantId = sql.placeholder("tenantId");

const projectPages = preparePages((db, start) =>
  db
    .select(projectColumns)
    .from(projects)
    .where(and(eq(projects.tenantId, tenantId), start(projects.createdAt, projects.id)))
    .orderBy(...newestFirst(projects.createdAt, projects.id))
    .limit(sql.placeholder("limit"))
    .prepare("projects_page"),
);

const projectById = prepareRead((db) =>
  db
    .select(projectColumns)
    .from(projects)
    .where(and(eq(projects.tenantId, tenantId), eq(projects.id, sql.placeholder("id"))))
    .prepare("project_by_id"),
);

/** A project's change event: its name and when it changed (the description is not sent). */
function projectChange(type: "project.created" | "project.updated", project: Project): ChangeEvent {
  const { id, name, updatedAt } = project;
  return { type, entityId: id, projectId: id, payload: { id, name, updatedAt } };
}

/** One page of the caller's tenant's projects, newest first: the hottest read, one statement. */
export function listProjects(
  read: Reads["run"],
  member: Pick<Caller, "tenantId">,
  input: { cursor?: string | null; limit: number },
) {
  return readPage(read, projectPages, { tenantId: member.tenantId }, input);
}

// Queries name the tenant explicitly although RLS already confines them: the predicate lets the
// planner use the (tenant_id, ...) indexes and check the policy once, not per row (and routes a
// query to one shard on Citus). `list` and `get` are one-statement reads (db/reads.ts).
export const projectsRouter = router({
  list: tenantReadProcedure
    .meta(rest("GET", "/projects", "projects", "List the workspace's projects, newest first"))
    .input(pageInput)
    .output(pageOf(projectOutput))
    .query(({ ctx, input }) => listProjects(ctx.read, ctx.member, input)),

  /** Per-tenant totals: an index-only count on (tenant_id, ...), with the policy a one-time check. */
  stats: tenantProcedure.meta(forKeys).query(async ({ ctx }) => {
    const [row] = await ctx.db
      .select({ total: count() })
      .from(projects)
      .where(eq(projects.tenantId, ctx.member.tenantId));
    return { total: row?.total ?? 0 };
  }),

  get: tenantReadProcedure
    .meta(rest("GET", "/projects/{id}", "projects", "Get a project"))
    .input(z.object({ id: idField }))
    .output(projectOutput)
    .query(async ({ ctx, input }) => {
      const [project] = await ctx.read(projectById, { tenantId: ctx.member.tenantId, id: input.id });
      if (!project) throw notFound("Project");
      return project satisfies Project;
    }),

  create: tenantProcedure
    .meta(rest("POST", "/projects", "projects", "Create a project"))
    .output(projectOutput)
    .input(z.object({ name: nameField, description: descriptionField.nullish() }))
    .mutation(async ({ ctx, input }) => {
      const [project] = await ctx.db
        .insert(projects)
        .values({
          tenantId: ctx.member.tenantId,
          name: input.name,
          description: input.description ?? null,
          createdBy: ctx.member.userId,
        })
        .returning(projectColumns);
      if (!project) throw notFound("Project");
      await audit(
        ctx,
        { action: "project.created", targetType: "project", targetId: project.id },
        projectChange("project.created", project),
      );
      return project satisfies Project;
    }),

  update: tenantProcedure
    .meta(forKeys)
    .input(z.object({ id: idField, name: nameField.optional(), description: descriptionField.nullish() }))
    .mutation(async ({ ctx, input }) => {
      const [project] = await ctx.db
        .update(projects)
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          updatedAt: new Date(),
        })
        .where(and(eq(projects.tenantId, ctx.member.tenantId), eq(projects.id, input.id)))
        .returning(projectColumns);
      if (!project) throw notFound("Project");
      await audit(
        ctx,
        { action: "project.updated", targetType: "project", targetId: project.id },
        projectChange("project.updated", project),
      );
      return project satisfies Project;
    }),

  delete: adminProcedure
    .meta(forKeys)
    .input(z.object({ id: idField }))
    .mutation(async ({ ctx, input }) => {
      const deleted = await ctx.db
        .delete(projects)
        .where(and(eq(projects.tenantId, ctx.member.tenantId), eq(projects.id, input.id)))
        .returning({ id: projects.id });
      if (deleted.length === 0) throw notFound("Project");
      await audit(
        ctx,
        { action: "project.deleted", targetType: "project", targetId: input.id },
        { type: "project.deleted", entityId: input.id, projectId: input.id, payload: { id: input.id } },
      );
      return { ok: true as const };
    }),
});
