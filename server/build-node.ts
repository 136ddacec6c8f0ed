/**
 * `npm run build`: compiles the Node server and its CLIs to `dist/` with esbuild, file by file
 * (no bundle: dependencies load from node_modules as in development), and copies the SQL the
 * migrator reads beside them, so `node dist/server/node.js` runs without tsx.
 */
import { cpSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const sources = (folder: string): string[] =>
  readdirSync(folder, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
    .map((file) => join(folder, file));

const entryPoints = [...sources("server"), ...sources("db")].filter(
  // The Worker and the build scripts are not part of the Node server.
  (file) => !/^server\/(worker|build-worker|build-node)\.ts$/.test(file),
);

rmSync("dist/server", { recursive: true, force: true });
rmSync("dist/db", { recursive: true, force: true });
await build({
  entryPoints,
  outdir: "dist",
  outbase: ".",
  format: "esm",
  platform: "node",
  target: "node20",
  // Keep `with { type: "json" }`: Node needs it to import the migrations journal.
  supported: { "import-attributes": true },
  sourcemap: true,
  logLevel: "warning",
});
// db/migrate.ts and db/functions.ts read these relative to their own compiled files.
cpSync("drizzle", "dist/drizzle", { recursive: true });
cpSync("db/sql", "dist/db/sql", { recursive: true });
console.log(`dist/: ${entryPoints.length} modules compiled; start with node dist/server/node.js`);
