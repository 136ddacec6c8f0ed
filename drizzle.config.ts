import { defineConfig } from "drizzle-kit";

// Only `drizzle-kit generate` uses this file; migrations are applied by `npm run db:migrate`
// (db/migrate.ts), which also runs them on PGlite.
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema.ts",
  out: "./drizzle",
  entities: { roles: false },
});
