// Builds @bulkhead/client: one ESM file for browsers, Node and workers, plus declarations.
// The server is imported by type only, so none of its code (nor drizzle, postgres, PGlite)
// can reach dist/index.js; tests/client.test.ts checks that.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
rmSync(join(here, "dist"), { recursive: true, force: true });

await build({
  entryPoints: [join(here, "src/index.ts")],
  outfile: join(here, "dist/index.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});

execFileSync(join(here, "../node_modules/.bin/tsc"), ["-p", join(here, "tsconfig.build.json")], { stdio: "inherit" });
