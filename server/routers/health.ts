import { sql } from "drizzle-orm";
import { publicProcedure } from "../trpc.js";

export const healthProcedure = publicProcedure.query(async ({ ctx }) => {
  await ctx.database.db.execute(sql`select 1`);
  return { status: "ok" as const, database: ctx.database.engine };
});
