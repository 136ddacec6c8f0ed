import { and, count, eq, sql } from "drizzle-orm";
import { z } from "zod";
import { preparedQuery } from "../../db/prepared.js";
import { projects } from "../../db/schema.js";
import type { Db, Tx } from "../../db/types.js";
import { audit } from "../audit.js";
import { notFound } from "../errors.js";
import { afterCursorPlaceholders, cursorValues, newestFirst, pageInput, toPage } from "../pagination.js";
import { adminProcedure, router, tenantProcedure } from "../trpc.js";
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

const pageOfProjects = (db: Db, withCursor: boolean) =>
  db
    .select(projectColumns)
    .from(projects)
    .where(
      and(
        eq(projects.tenantId, sql.placeholder("tenantId")),
        withCursor ? afterCursorPlaceholders(projects.createdAt, projects.id) : undefined,
      ),
    )
    .orderBy(...newestFirst(projects.createdAt, projects.id))
    .limit(sql.placeholder("limit"));

const firstPage = preparedQuery("projects_first_page", (db) => pageOfProjects(db, false));
const laterPage = preparedQuery("projects_later_page", (db) => pageOfProjects(db, true));

/** One page of a tenant's projects, newest first (the hottest read: its SQL is built once). */
export async function listProjects(db: Tx, tenantId: string, input: { cursor?: string | null; limit: number }) {
  const values = { tenantId, limit: input.limit + 1 };
  const rows = input.cursor
    ? await laterPage(db, { ...values, ...cursorValues(input.cursor) })
    : await firstPage(db, values);
  return toPage(rows, input.limit);
}

// Queries name the tenant explicitly although RLS already confines them: the predicate lets the
// planner use the (tenant_id, ...) indexes and check the policy once, not per row.
export const projectsRouter = router({
  list: tenantProcedure.input(pageInput).query(({ ctx, input }) => listProjects(ctx.db, ctx.member.tenantId, input)),

  /** Per-tenant totals: an index-only count on (tenant_id, ...), with the policy a one-time check. */
  stats: tenantProcedure.query(async ({ ctx }) => {
    const [row] = await ctx.db
      .select({ total: count() })
      .from(projects)
      .where(eq(projects.tenantId, ctx.member.tenantId));
    return { total: row?.total ?? 0 };
  }),

  get: tenantProcedure.input(z.object({ id: idField })).query(async ({ ctx, input }) => {
    const [project] = await ctx.db
      .select(projectColumns)
      .from(projects)
      .where(and(eq(projects.tenantId, ctx.member.tenantId), eq(projects.id, input.id)));
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
