/** The client package builds to a bundle that carries nothing of the server (slow tier: it runs a build). */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("@bulkhead/client's build", () => {
  it("builds to JavaScript with no server, drizzle, postgres or PGlite code", () => {
    execFileSync("npm", ["run", "build", "-w", "@bulkhead/client"], { stdio: "pipe" });
    const bundle = readFileSync(new URL("../client/dist/index.js", import.meta.url), "utf8");
    expect(bundle).toContain("createBulkheadClient");
    for (const forbidden of [
      "drizzle",
      "postgres",
      "pglite",
      "PGlite",
      "argon2",
      "hono",
      "set_context",
      "withTenant",
      "jose",
    ]) {
      expect(bundle, forbidden).not.toContain(forbidden);
    }
    const imports = [...bundle.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(imports)).toEqual(new Set(["@trpc/client", "@trpc/server/observable", "superjson"]));
    const types = readFileSync(new URL("../client/dist/types/client/src/index.d.ts", import.meta.url), "utf8");
    expect(types).toContain("AppRouter");
  });
});
