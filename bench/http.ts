/** Drives a benchmark server over HTTP from this process with undici (keep-alive, no pipelining). */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { alternateAll, latencyOf, urlFor } from "./lib.js";
import { benchSecret } from "./tokens.js";

const root = fileURLToPath(new URL("..", import.meta.url));

export interface BenchServer {
  child: ChildProcess;
  origin: string;
  /** Peak resident set size of the server process so far (VmHWM), in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/**
 * Starts the benchmark server on scratch database `database`: the app as `bulkhead_app`, the
 * baseline route as the superuser (no RLS), signing with the benchmarks' secret.
 */
export async function startBenchServer(database: string, extraEnv: Record<string, string> = {}): Promise<BenchServer> {
  const env = {
    BENCH_APP_URL: urlFor(database, "bulkhead_app"),
    BENCH_BASELINE_URL: urlFor(database),
    JWT_SECRET: benchSecret,
    ...extraEnv,
  };
  const profile = process.env.BENCH_SERVER_PROFILE
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_SERVER_PROFILE}`]
    : [];
  const child = spawn(process.execPath, [...profile, "--import", "tsx", "bench/http-server.ts"], {
    cwd: root,
    // A fixed key: the bench never stores a second factor it must read back later.
    env: { ...process.env, NODE_ENV: "production", ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64"), ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /ready (\d+)/.exec(output);
      if (ready) {
        // From here on the server's stdout is its access log: read and dropped, as a collector would.
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        resolve(Number(ready[1]));
      }
    });
  });
  return {
    child,
    origin: `http://127.0.0.1:${port}`,
    peakRssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb / 1024;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** One request of a load: what `load`'s `request` returns. */
export interface LoadSpec {
  path: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  rps: number;
  latencies: number[];
  errors: number;
}

/** What `load` asks for each request a worker sends. */
export type LoadRequest = (worker: number, i: number) => LoadSpec;

/**
 * `concurrency` closed-loop workers send `request(i)` until `ms` elapse or each has sent
 * `perWorker` requests; counts and times each.
 */
export async function load(
  origin: string,
  concurrency: number,
  ms: number,
  request: LoadRequest,
  perWorker = 10_000_000,
): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < deadline && i < perWorker; i++) {
        const spec = request(worker, i);
        const t0 = performance.now();
        const response = await pool.request({
          path: spec.path,
          method: spec.method ?? "GET",
          headers: spec.headers ?? {},
          ...(spec.body ? { body: spec.body } : {}),
        });
        await response.body.text();
        latencies.push(performance.now() - t0);
        if (response.statusCode !== 200) errors++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  await pool.close();
  return { rps: (latencies.length / elapsed) * 1000, latencies, errors };
}

/**
 * Several loads compared in the same run: each warmed once for `warmMs`, then run for `ms` in
 * `rounds` rotated rounds (`alternateAll`), all at `concurrency`. Throws if any request failed
 * (`label` names the benchmark); returns each load's median req/s and its latencies' summary.
 */
export async function rotatedLoads<K extends string>(
  origin: string,
  label: string,
  requests: Record<K, LoadRequest>,
  options: { concurrency: number; ms: number; rounds: number; warmMs: number },
) {
  const { concurrency, ms, rounds, warmMs } = options;
  const keys = Object.keys(requests) as K[];
  for (const key of keys) await load(origin, concurrency, warmMs, requests[key]);
  let errors = 0;
  const latencies = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  const runs = Object.fromEntries(
    keys.map((key) => [
      key,
      async () => {
        const r = await load(origin, concurrency, ms, requests[key]);
        errors += r.errors;
        latencies[key].push(...r.latencies);
        return r.rps;
      },
    ]),
  ) as Record<K, () => Promise<number>>;
  const { medians } = await alternateAll(rounds, runs);
  if (errors > 0) throw new Error(`${errors} requests failed during ${label}`);
  return { medians, tail: (key: K) => latencyOf(latencies[key]) };
}

/** The tRPC GET path of `projects.list`, or of the bench server's `/bare/list` (P2c) and `/p7/list` (P7). */
export const listPath = (limit: number, procedure = "/trpc/projects.list") =>
  `${procedure}?input=${encodeURIComponent(JSON.stringify({ json: { limit } }))}`;

/**
 * P2c's page: 49 items of the 50 rows the bare procedure reads, as `projects.list` reads one more
 * than it returns.
 */
export const barePath = listPath(49, "/bare/list");

/** `tasks.create` over tRPC, in `projectId`, by the member `token` names. */
export const createTaskRequest = (
  token: string | undefined,
  projectId: string | undefined,
  title: string,
): LoadSpec => ({
  path: "/trpc/tasks.create",
  method: "POST",
  headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
  body: JSON.stringify({ json: { projectId, title } }),
});

/** P6c: the same write through the bench server's bare tRPC procedure (tasks.create's input). */
export const bareCreateRequest = (
  token: string | undefined,
  projectId: string | undefined,
  title: string,
): LoadSpec => ({
  ...createTaskRequest(token, projectId, title),
  path: "/bare/create",
});

/** P6's baseline: the same task and its audit row, written by the bench server's raw route. */
export const baselineWriteRequest = (
  who: { tenantId: string; userId: string; projectId: string } | undefined,
  title: string,
): LoadSpec => ({
  path: "/baseline/tasks",
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ tenantId: who?.tenantId, userId: who?.userId, projectId: who?.projectId, title }),
});
