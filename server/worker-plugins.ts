/** esbuild settings of the Worker bundle (server/build-worker.ts, and the Worker bench row). */
import { copyFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { BuildOptions, Plugin } from "esbuild";

/** What a bundle for workerd is: one ES module, Web-standard, Node's built-ins left to `nodejs_compat`. */
export const workerdBundle = {
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  // postgres.js has a build for workerd (Workers sockets); everything else is Web-standard.
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  external: ["node:*", "cloudflare:*"],
  logLevel: "warning",
} satisfies BuildOptions;

/**
 * trpc-to-openapi's one entry point also brings its adapters for Node's servers and Nuxt, whose
 * body readers (`co-body`, `h3`) need Node's streams. The REST face never calls them: it hands
 * the library a parsed body (server/rest.ts). In the Worker they are modules that throw if called.
 */
export const nodeServerOnly: Plugin = {
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

/**
 * argon2's WebAssembly reaches workerd as a module of its own (`argon2.wasm` beside the bundle,
 * a CompiledWasm rule in wrangler.toml): workerd compiles it at upload and refuses to compile
 * bytes at run time. On Node, server/auth/argon2-wasm-module.ts reads and compiles the file.
 */
export const wasmModule: Plugin = {
  name: "argon2-wasm-module",
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /argon2-wasm-module\.js$/ }, () => ({ path: "argon2", namespace: "wasm-module" }));
    pluginBuild.onLoad({ filter: /.*/, namespace: "wasm-module" }, () => ({
      contents: `import compiled from "./argon2.wasm"; export default compiled;`,
      loader: "js",
    }));
    pluginBuild.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** Puts argon2.wasm beside a Worker bundle in `dir`, where its import finds it. */
export function copyArgon2Wasm(dir: string) {
  return copyFile(createRequire(import.meta.url).resolve("@phi-ag/argon2/argon2.wasm"), join(dir, "argon2.wasm"));
}
