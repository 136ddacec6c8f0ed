import { defineConfig } from "vitest/config";

const engine = process.env.BULKHEAD_TEST_ENGINE === "postgres" ? "postgres" : "pglite";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    exclude: ["tests/edge/**", "**/node_modules/**"],
    globalSetup: ["tests/global-setup.ts"],
    pool: "forks",
    // Files share a worker's module cache: each builds its own database, app and clients, and
    // nothing in the suite keeps state in modules or globals. Re-importing drizzle, tRPC and
    // PGlite (wasm included) for every file cost more CPU than most files' tests (72 s -> 39 s).
    isolate: false,
    // Files wait on PGlite, PostgreSQL and child servers as much as on the CPU: 3 beat 2 on 2 cores.
    maxWorkers: 3,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    name: engine,
  },
});
