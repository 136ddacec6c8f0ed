import { defineConfig } from "vitest/config";

const engine = process.env.BULKHEAD_TEST_ENGINE === "postgres" ? "postgres" : "pglite";

/**
 * `npm test` is the fast tier: every isolation, auth and domain test, in-process on PGlite.
 * `npm run test:slow` (BULKHEAD_TEST_TIER=slow) is what spawns servers or builds
 * (`*.slow.test.ts`), the fuzzers and the full cross-tenant probe; `all` runs both (the
 * PostgreSQL suite).
 */
const tier = process.env.BULKHEAD_TEST_TIER ?? "fast";
const include =
  tier === "slow"
    ? // The cross-tenant probe runs bounded in the fast tier and in full here.
      ["tests/**/*.slow.test.ts", "tests/fuzz/**/*.test.ts", "tests/isolation/probe.test.ts"]
    : ["tests/**/*.test.ts", "server/**/*.test.ts"];
const exclude = [
  "tests/edge/**",
  "tests/e2e/**",
  "**/node_modules/**",
  ...(tier === "fast" ? ["tests/**/*.slow.test.ts", "tests/fuzz/**"] : []),
];

export default defineConfig({
  test: {
    include,
    exclude,
    globalSetup: ["tests/global-setup.ts"],
    // The fast tier on PGlite in worker threads: 33–37 s against 42–49 s in forked processes
    // here. PostgreSQL and the slower tiers keep processes: they spawn servers and hold
    // PostgreSQL clients for minutes.
    pool: tier === "fast" && engine === "pglite" ? "threads" : "forks",
    // Files share a worker's module cache: each builds its own database, app and clients, and
    // nothing in the suite keeps state in modules or globals. Re-importing drizzle, tRPC and
    // PGlite (wasm included) for every file cost more CPU than most files' tests (72 s -> 39 s).
    isolate: false,
    // 3 on 2 cores: the slower tiers wait on PostgreSQL and child servers, and the fast tier's
    // slowest files wait out reset floors, leases and outage timings while a third file works
    // (fast tier 18.8-21.6 s with 3, 20.5-24.2 s with 2, alternating runs on 2026-12-01).
    maxWorkers: 3,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    name: tier === "fast" ? engine : `${engine} ${tier}`,
  },
});
