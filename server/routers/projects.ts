import { and, count, eq } from "drizzle-orm";
import { z } from "zod";
import { epochDate, type Reader, type RowDecoder, readFunction } from "../../db/reads.js";
import { projects } from "../../db/schema.js";
import { audit } from "../audit.js";
import { notFound } from "../errors.js";
import { afterArgs, pageInput, toPage } from "../pagination.js";
import { adminProcedure, router, tenantProcedure, tenantReadProcedure } from "../trpc.js";
import { descriptionField, idField, nameField } from "../validation.js";

const projectColumns = {
  id: projects.id,
  name: projects.name,
  description: projects.description,
  createdBy: projects.createdBy,
  createdAt: projects.createdAt,
  updatedAt: projects.updatedAt,
};

export type Project = {
  id: string;
  name: string;
  description: string | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
};

/** `app.read_projects_page` and `app.read_project` return these columns, in this order. */
const projectRow: RowDecoder<Project> = {
  columns: 6,
  row: (v) => ({
    id: v[0] as string,
    name: v[1] as string,
    description: v[2] as string | null,
    createdBy: v[3] as string,
    createdAt: epochDate(v[4]),
    updatedAt: epochDate(v[5]),
  }),
};

const readProjectsPage = readFunction<[limit: number, afterCreatedAt: string | null, afterId: string | null], Project>(
  "read_projects_page",
  ["integer", "timestamptz", "uuid"],
  projectRow,
);
const readProject = readFunction<[id: string], Project>("read_project", ["uuid"], projectRow);

/** One page of the caller's tenant's projects, newest first: the hottest read, one statement. */
export async function listProjects(read: Reader, input: { cursor?: string | null; limit: number }) {
  const rows = await read(readProjectsPage, input.limit + 1, ...afterArgs(input.cursor));
  return toPage(rows, input.limit);
}

// Queries name the tenant explicitly although RLS already confines them: the predicate lets the
// planner use the (tenant_id, ...) indexes and check the policy once, not per row. `list` and
// `get` are one-statement reads (migration 0006's `app.read_projects_page`, `app.read_project`).
export const projectsRouter = router({
  list: tenantReadProcedure.input(pageInput).query(({ ctx, input }) => listProjects(ctx.read, input)),

  /** Per-tenant totals: an index-only count on (tenant_id, ...), with the policy a one-time check. */
  stats: tenantProcedure.query(async ({ ctx }) => {
    const [row] = await ctx.db
      .select({ total: count() })
      .from(projects)
      .where(eq(projects.tenantId, ctx.member.tenantId));
    return { total: row?.total ?? 0 };
  }),

  get: tenantReadProcedure.input(z.object({ id: idField })).query(async ({ ctx, input }) => {
    const [project] = await ctx.read(readProject, input.id);
    if (!project) throw notFound("Project");
    return project satisfies Project;
  }),

  create: tenantProcedure
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
      await audit(ctx, { action: "project.created", targetType: "project", targetId: project.id });
      return project satisfies Project;
    }),

  update: tenantProcedure
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
      await audit(ctx, { action: "project.updated", targetType: "project", targetId: project.id });
      return project satisfies Project;
    }),

  delete: adminProcedure.input(z.object({ id: idField })).mutation(async ({ ctx, input }) => {
    const deleted = await ctx.db
      .delete(projects)
      .where(and(eq(projects.tenantId, ctx.member.tenantId), eq(projects.id, input.id)))
      .returning({ id: projects.id });
    if (deleted.length === 0) throw notFound("Project");
    await audit(ctx, { action: "project.deleted", targetType: "project", targetId: input.id });
    return { ok: true as const };
  }),
});
