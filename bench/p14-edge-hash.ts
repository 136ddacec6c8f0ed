/**
 * P14 — a login's password verify in the Worker (workerd, through Miniflare): argon2id
 * m=19456,t=2,p=1 in WebAssembly, against the JavaScript argon2id it replaced, and beside
 * Node's native verify. Each request's round trip minus a request that does nothing, alternated.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { createArgon2Hasher } from "../server/auth/argon2.js";
import { copyArgon2Wasm, wasmModule, workerdBundle } from "../server/worker-plugins.js";
import { median, quick, type Row } from "./lib.js";

export async function benchEdgeHash(): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), "bulkhead-p14-"));
  const script = join(dir, "index.js");
  await build({
    entryPoints: ["bench/p14-edge-worker.ts"],
    outfile: script,
    ...workerdBundle,
    plugins: [wasmModule],
  });
  await copyArgon2Wasm(dir);
  const mf = new Miniflare({
    modules: true,
    scriptPath: script,
    modulesRoot: dir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-09-01",
    compatibilityFlags: ["nodejs_compat"],
  });
  try {
    const origin = await mf.ready;
    const timed = async (path: string) => {
      const started = performance.now();
      const response = await fetch(new URL(path, origin));
      await response.text();
      if (!response.ok) throw new Error(`${path}: ${response.status}`);
      return performance.now() - started;
    };
    await timed("/wasm"); // the first request instantiates the module and makes the stored hash
    await timed("/js");
    const rounds = quick ? 10 : 30;
    const samples = { noop: [] as number[], wasm: [] as number[], js: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      samples.noop.push(await timed("/noop"));
      samples.wasm.push(await timed("/wasm"));
      if (i % 3 === 0) samples.js.push(await timed("/js"));
    }
    const noop = median(samples.noop);
    const wasm = median(samples.wasm) - noop;
    const js = median(samples.js) - noop;

    const native = createArgon2Hasher();
    const stored = await native.hash("a bench password, long enough");
    const nodeSamples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const started = performance.now();
      await native.verify(stored, "a bench password, long enough");
      nodeSamples.push(performance.now() - started);
    }
    const node = median(nodeSamples);
    return {
      id: "P14",
      what: "a login's argon2id verify in the Worker (workerd): WebAssembly",
      baseline: `JavaScript there ${js.toFixed(0)} ms; Node native ${node.toFixed(0)} ms`,
      measured: `${wasm.toFixed(1)} ms`,
      ratio: js / wasm,
      target: "≤ 60 ms",
      ok: wasm <= 60,
    };
  } finally {
    await mf.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
