import { TRPCError } from "@trpc/server";
import { type AnyColumn, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { type Executable, type PreparedRead, prepareRead, type ReadDb, type Reads } from "../db/reads.js";

/** `{ cursor?, limit? }` of every list procedure: limit 1..100, default 20. */
export const pageInput = z.object({
  cursor: z.string().max(200).nullish(),
  limit: z.number().int().min(1).max(100).default(20),
});

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const cursorSchema = z.tuple([z.string().min(1).max(64), z.uuid()]);

/**
 * Cursors are opaque to clients: base64url of `[created_at, id]` of the page's last row. Every
 * timestamp column has millisecond precision (`timestamp(3)`), so the JS Date is exact.
 */
export function encodeCursor(createdAt: Date, id: string): string {
  return btoa(JSON.stringify([createdAt.toISOString(), id]))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

/**
 * Whether `value` is a timestamp exactly as `encodeCursor` writes it and PostgreSQL reads it:
 * `YYYY-MM-DDTHH:MM:SS.mmmZ`, years 1–9999, a real calendar date. `Date.parse` alone accepts
 * `"1"`, `"2020-02-30"` and years PostgreSQL refuses.
 */
function isExactTimestamp(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value) || value.startsWith("0000")) return false;
  const date = new Date(value);
  return !Number.isNaN(date.getTime()) && date.toISOString() === value;
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  let parsed: z.ZodSafeParseResult<[string, string]> | undefined;
  try {
    parsed = cursorSchema.safeParse(JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))));
  } catch {
    // not base64 or not JSON: refused below
  }
  if (!parsed?.success || !isExactTimestamp(parsed.data[0])) {
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: "Invalid input: cursor: not a cursor this API issued (pass a page's nextCursor)",
    });
  }
  const [createdAt, id] = parsed.data;
  return { createdAt, id };
}

/**
 * The order of every page: newest first. Spelled `desc nulls last` because that is how
 * drizzle-kit writes the `(tenant_id, created_at desc, id desc)` indexes, and a plain `desc`
 * means `desc nulls first` to PostgreSQL: the index could not give that order (the columns being
 * NOT NULL does not matter to the planner), so every page sorted all of a tenant's rows first.
 * tests/query-plans.test.ts checks that no list query sorts.
 */
export function newestFirst(createdAt: AnyColumn, id: AnyColumn): [SQL, SQL] {
  return [sql`${createdAt} desc nulls last`, sql`${id} desc nulls last`];
}

/** Rows strictly after the cursor in `(created_at desc, id desc)` order. */
export function afterCursor(createdAt: AnyColumn, id: AnyColumn, cursor: string | null | undefined): SQL | undefined {
  if (!cursor) return undefined;
  const position = decodeCursor(cursor);
  return sql`(${createdAt}, ${id}) < (${position.createdAt}::timestamptz, ${position.id}::uuid)`;
}

/** Where a page starts: nowhere (the first page), or after a cursor's row (placeholders). */
export type PageStart = (createdAt: AnyColumn, id: AnyColumn) => SQL | undefined;

const firstPage: PageStart = () => undefined;
const afterPlaceholders: PageStart = (createdAt, id) =>
  sql`(${createdAt}, ${id}) < (${sql.placeholder("afterCreatedAt")}::timestamptz, ${sql.placeholder("afterId")}::uuid)`;

/** A list's two prepared reads: its first page, and a page after a cursor (each its own plan). */
export interface PagedRead<Q extends Executable> {
  first: PreparedRead<Q>;
  after: PreparedRead<Q>;
}

/**
 * Prepares a list's reads from one builder: `build(db, start)` selects newest first
 * (`newestFirst`), filters with `start(createdAt, id)` and limits to `sql.placeholder("limit")`.
 * Read a page with `readPage`.
 *
 * @example
 * // At module level, once: a task's comments, newest first, one statement per page.
 * const commentPages = preparePages((db, start) =>
 *   db.select(commentColumns).from(comments)
 *     .where(and(eq(comments.tenantId, sql.placeholder("tenantId")),
 *                eq(comments.taskId, sql.placeholder("taskId")),
 *                start(comments.createdAt, comments.id)))
 *     .orderBy(...newestFirst(comments.createdAt, comments.id))
 *     .limit(sql.placeholder("limit"))
 *     .prepare("comments_page"),
 * );
 */
export function preparePages<Q extends Executable>(build: (db: ReadDb, start: PageStart) => Q): PagedRead<Q> {
  return {
    first: prepareRead((db) => build(db, firstPage)),
    after: prepareRead((db) => build(db, afterPlaceholders)),
  };
}

/**
 * One page of a paged read: `limit + 1` rows after the input's cursor, as a `Page`. A cursor
 * that does not decode is BAD_REQUEST before anything is read.
 *
 * @example
 * list: tenantReadProcedure.input(pageInput.extend({ taskId: idField })).query(({ ctx, input }) =>
 *   readPage(ctx.read, commentPages, { tenantId: ctx.member.tenantId, taskId: input.taskId }, input),
 * ),
 */
export async function readPage<Row extends { createdAt: Date; id: string }>(
  read: Reads["run"],
  pages: PagedRead<Executable<Row[]>>,
  values: Record<string, unknown>,
  input: { cursor?: string | null; limit: number },
): Promise<Page<Row>> {
  const position = input.cursor ? decodeCursor(input.cursor) : null; // BAD_REQUEST before any read
  const rows = await (position
    ? read(pages.after, { ...values, limit: input.limit + 1, afterCreatedAt: position.createdAt, afterId: position.id })
    : read(pages.first, { ...values, limit: input.limit + 1 }));
  return toPage(rows, input.limit);
}

/** Builds a page from `limit + 1` rows fetched in `(created_at desc, id desc)` order. */
export function toPage<Row extends { createdAt: Date; id: string }>(rows: Row[], limit: number): Page<Row> {
  const items = rows.length > limit ? rows.slice(0, limit) : rows;
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
}
