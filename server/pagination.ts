import { TRPCError } from "@trpc/server";
import { type AnyColumn, type SQL, sql } from "drizzle-orm";
import { z } from "zod";

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

/**
 * The cursor's position as the last two arguments of a paged read function
 * (`p_after_created_at`, `p_after_id`): both null for the first page.
 */
export function afterArgs(cursor: string | null | undefined): [createdAt: string | null, id: string | null] {
  if (!cursor) return [null, null];
  const position = decodeCursor(cursor);
  return [position.createdAt, position.id];
}

/** Builds a page from `limit + 1` rows fetched in `(created_at desc, id desc)` order. */
export function toPage<Row extends { createdAt: Date; id: string }>(rows: Row[], limit: number): Page<Row> {
  const items = rows.length > limit ? rows.slice(0, limit) : rows;
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
}
