import { defineConfig } from "vitest/config";

const engine = process.env.BULKHEAD_TEST_ENGINE === "postgres" ? "postgres" : "pglite";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/global-setup.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    name: engine,
  },
});
