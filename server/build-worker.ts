/** `npm run build:worker`: bundles server/worker.ts for workerd into dist/worker/index.js. */
import { build, type Plugin } from "esbuild";

/**
 * trpc-to-openapi's one entry point also brings its adapters for Node's servers and Nuxt, whose
 * body readers (`co-body`, `h3`) need Node's streams. The REST face never calls them: it hands
 * the library a parsed body (server/rest.ts). In the Worker they are modules that throw if called.
 */
const nodeServerOnly: Plugin = {
  name: "node-server-only",
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^(co-body|h3)$/ }, (args) => ({ path: args.path, namespace: "node-server-only" }));
    pluginBuild.onLoad({ filter: /.*/, namespace: "node-server-only" }, (args) => ({
      contents: `const absent = () => { throw new Error("${args.path} is not available in the Worker"); };
export default absent; export const defineEventHandler = absent; export const getQuery = absent;`,
      loader: "js",
    }));
  },
};

const result = await build({
  entryPoints: ["server/worker.ts"],
  outfile: "dist/worker/index.js",
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  // postgres.js has a build for workerd (Workers sockets); everything else is Web-standard.
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  external: ["node:*", "cloudflare:*"],
  plugins: [nodeServerOnly],
  minifySyntax: true,
  metafile: true,
  logLevel: "warning",
});

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
