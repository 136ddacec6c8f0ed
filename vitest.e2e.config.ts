import { defineConfig } from "vitest/config";

// `npm run test:e2e`: the web app in headless Chromium against a real server process.
export default defineConfig({
  test: {
    include: ["tests/e2e/**/*.e2e.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 90_000,
    name: "e2e",
  },
});
