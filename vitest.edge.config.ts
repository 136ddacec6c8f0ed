import { defineConfig } from "vitest/config";

// `npm run test:edge`: the bundled Worker in Miniflare (workerd) against the local PostgreSQL.
export default defineConfig({
  test: {
    include: ["tests/edge/**/*.test.ts"],
    globalSetup: ["tests/global-setup.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    name: "edge",
  },
});
