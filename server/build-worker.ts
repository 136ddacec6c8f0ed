/** `npm run build:worker`: bundles server/worker.ts for workerd into dist/worker/index.js. */
import { build } from "esbuild";
import { copyArgon2Wasm, nodeServerOnly, wasmModule, workerdBundle } from "./worker-plugins.js";

const result = await build({
  entryPoints: ["server/worker.ts"],
  outfile: "dist/worker/index.js",
  ...workerdBundle,
  plugins: [nodeServerOnly, wasmModule],
  minifySyntax: true,
  metafile: true,
});

await copyArgon2Wasm("dist/worker");

const inputs = Object.keys(result.metafile.inputs);
const nodeOnly = inputs.filter((file) =>
  /@node-rs|@electric-sql\/pglite|@hono\/node-server|node_modules\/postgres\/src\//.test(file),
);
if (nodeOnly.length > 0) {
  console.error(`the Worker bundle pulled in Node-only modules:\n  ${nodeOnly.join("\n  ")}`);
  process.exit(1);
}
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
console.log(
  `dist/worker/index.js: ${(bytes / 1024).toFixed(0)} KiB from ${inputs.length} modules, no Node-only module`,
);
