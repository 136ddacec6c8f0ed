/**
 * `npm run bench:profile -- [--paths=raw,bare,list] [--seconds=8] [--top=15] [--save=dir]`:
 * where the server's CPU goes per request, path by path. Each path gets its own bench server
 * (one process, one JIT history), 2 s of warm-up at 32 concurrent, then V8's sampling profiler
 * (every 500 µs) over `--seconds` of the same load. Prints the server's CPU per request from /proc,
 * the self time per request of the top functions and of each package, and, with `--save`, the
 * `.cpuprofile` files (Chrome DevTools and speedscope open them as flame graphs).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Pool } from "undici";
import {
  bareCreateRequest,
  barePath,
  baselineWriteRequest,
  createTaskRequest,
  type LoadSpec,
  listPath,
  load,
  startBenchServer,
} from "./http.js";
import { latencyOf, scratchDatabase } from "./lib.js";
import { projectOfEachTenant, seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const paths = arg("paths", "raw,bare,list").split(",");
const seconds = Number(arg("seconds", "8"));
const top = Number(arg("top", "15"));
const save = process.argv.find((a) => a.startsWith("--save="))?.slice(7);
// Only the CPU per request from /proc, without the profiler (which costs a path in proportion to its stack depth).
const cpuOnly = process.argv.includes("--cpu-only");

/** The package a frame belongs to: `hono`, `@trpc/server`, `node:internal`, or `bulkhead`. */
function packageOf(url: string): string {
  if (url === "") return "(V8 / native)";
  if (url.startsWith("node:")) return "node:internal";
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match?.[1]) return match[1];
  return "bulkhead";
}

function shortUrl(url: string): string {
  const match = /node_modules\/(.*)$/.exec(url);
  if (match?.[1]) return match[1];
  return url.replace(/^file:\/\/.*?\/(server|db|bench)\//, "$1/").replace(/^node:/, "node:");
}

/** Self time (µs) per node id, from the samples and the time before each. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return self;
}

/** utime and stime of a process, in clock ticks (100 Hz). */
function cpuOf(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

function cpuTicks(pid: number): number {
  const { user, system } = cpuOf(pid);
  return user + system;
}

/** CPU ticks of every PostgreSQL process on this machine (the bench's own database's backends among them). */
function postgresTicks(): number {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres") ticks += cpuTicks(Number(pid));
    } catch {} // exited meanwhile
  }
  return ticks;
}

const scratch = await scratchDatabase("profile");
try {
  const tenants = await seedTenants(scratch.owner, 20, 60, "seeding");
  const projectOf = await projectOfEachTenant(scratch.owner);
  const tokens = await Promise.all(tenants.map((t) => accessTokenFor(t)));
  const pick = (w: number, i: number) => (w * 7919 + i) % tenants.length;
  const writer = (w: number, i: number) => {
    const t = tenants[pick(w, i)];
    return { tenantId: t?.tenantId ?? "", userId: t?.userId ?? "", projectId: projectOf.get(t?.tenantId ?? "") ?? "" };
  };
  const bearer = (w: number, i: number) => ({ authorization: `Bearer ${tokens[pick(w, i)]}` });
  // The paths P2 (raw, bare, list), P7 (p7) and P6 (raw-write, bare-write, write) load.
  const requests: Record<string, (w: number, i: number) => LoadSpec> = {
    raw: (w, i) => ({ path: `/baseline/projects?tenant=${tenants[pick(w, i)]?.tenantId}` }),
    bare: (w, i) => ({ path: barePath, headers: bearer(w, i) }),
    list: (w, i) => ({ path: listPath(50), headers: bearer(w, i) }),
    p7: (w, i) => ({ path: listPath(50, "/p7/list"), headers: bearer(w, i) }),
    "raw-write": (w, i) => baselineWriteRequest(writer(w, i), `t${i}`),
    "bare-write": (w, i) => bareCreateRequest(tokens[pick(w, i)], writer(w, i).projectId, `t${i}`),
    write: (w, i) => createTaskRequest(tokens[pick(w, i)], writer(w, i).projectId, `t${i}`),
  };
  for (const name of paths) {
    const request = requests[name];
    if (!request) throw new Error(`unknown path ${name}: ${Object.keys(requests).join(", ")}`);
    const server = await startBenchServer(scratch.name, { BENCH_PROFILE_ROUTES: "1" });
    const control = new Pool(server.origin, { connections: 1 });
    try {
      await load(server.origin, 32, 2000, request);
      if (!cpuOnly) await (await control.request({ path: "/__profile/start", method: "POST" })).body.text();
      const before = cpuOf(server.child.pid ?? 0);
      const pgTicks = postgresTicks();
      const result = await load(server.origin, 32, seconds * 1000, request);
      const after = cpuOf(server.child.pid ?? 0);
      const userMs = (after.user - before.user) * 10;
      const systemMs = (after.system - before.system) * 10;
      const pgMs = (postgresTicks() - pgTicks) * 10;
      const profile = cpuOnly
        ? { nodes: [], samples: [], timeDeltas: [] }
        : ((await (await control.request({ path: "/__profile/stop", method: "POST" })).body.json()) as CpuProfile);
      if (result.errors > 0) throw new Error(`${result.errors} requests failed on ${name}`);
      const count = result.latencies.length;
      if (save && !cpuOnly) {
        mkdirSync(save, { recursive: true });
        writeFileSync(join(save, `${name}.cpuprofile`), JSON.stringify(profile));
      }
      const self = selfTimes(profile);
      const byFunction = new Map<string, number>();
      const byPackage = new Map<string, number>();
      let sampled = 0;
      for (const node of profile.nodes) {
        const us = self.get(node.id) ?? 0;
        if (node.callFrame.functionName === "(idle)") continue;
        sampled += us;
        const { functionName, url, lineNumber } = node.callFrame;
        const key = `${functionName || "(anonymous)"}  ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ""}`;
        byFunction.set(key, (byFunction.get(key) ?? 0) + us);
        const pkg = functionName.startsWith("(") ? functionName : packageOf(url);
        byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
      }
      const perRequest = (us: number) => `${(us / count).toFixed(1).padStart(7)} µs`;
      console.log(
        `\n## ${name}: ${Math.round(result.rps)} req/s, ${latencyOf(result.latencies)}; CPU per request (/proc): server ${Math.round(((userMs + systemMs) * 1000) / count)} µs (${Math.round((systemMs * 1000) / count)} in the kernel), PostgreSQL ${Math.round((pgMs * 1000) / count)} µs${cpuOnly ? "" : `; ${Math.round(sampled / count)} µs sampled in the server (idle left out)`}`,
      );
      if (cpuOnly) continue;
      console.log("\nself time per request, by package:");
      for (const [pkg, us] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12))
        console.log(`  ${perRequest(us)}  ${((us / sampled) * 100).toFixed(1).padStart(5)}%  ${pkg}`);
      console.log(`\ntop ${top} functions by self time per request:`);
      for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
        console.log(`  ${perRequest(us)}  ${((us / sampled) * 100).toFixed(1).padStart(5)}%  ${fn}`);
    } finally {
      await control.close();
      await server.stop();
    }
  }
} finally {
  await scratch.drop();
}
