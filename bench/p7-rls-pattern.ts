/**
 * P7 — `projects.list` against what a team would otherwise write: Drizzle's documented RLS
 * pattern (`db.transaction`, `set_config` of the claims, the query) behind the same tRPC, Hono
 * app and middleware, in the same server (`bench/http-server.ts`, `/p7`). Throughput and p99, both
 * loaded at the same concurrency.
 */
import { listPath, load, startBenchServer } from "./http.js";
import { alternate, latencyOf, percentile, quick, type Row, scratchDatabase } from "./lib.js";
import { seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

export async function benchRlsPattern(): Promise<Row> {
  const scratch = await scratchDatabase("p7");
  try {
    const tenants = await seedTenants(scratch.owner, 20, 60, "P7 seeding");
    const tokens = await Promise.all(tenants.map((t) => accessTokenFor(t)));
    const server = await startBenchServer(scratch.name);
    try {
      const concurrency = 32;
      const ms = quick ? 1500 : 4000;
      const pick = (w: number, i: number) => tokens[(w * 7919 + i) % tokens.length];
      const run = (path: string, duration: number) =>
        load(server.origin, concurrency, duration, (w, i) => ({
          path,
          headers: { authorization: `Bearer ${pick(w, i)}` },
        }));
      const drizzlePattern = listPath(50, "/p7/list");
      const bulkhead = listPath(50);
      await run(drizzlePattern, 1500);
      await run(bulkhead, 1500);
      let errors = 0;
      const p99 = { baseline: [] as number[], candidate: [] as number[] };
      const all = { baseline: [] as number[], candidate: [] as number[] };
      const result = await alternate(
        quick ? 5 : 7,
        async () => {
          const r = await run(drizzlePattern, ms);
          errors += r.errors;
          p99.baseline.push(percentile(r.latencies, 99));
          all.baseline.push(...r.latencies);
          return r.rps;
        },
        async () => {
          const r = await run(bulkhead, ms);
          errors += r.errors;
          p99.candidate.push(percentile(r.latencies, 99));
          all.candidate.push(...r.latencies);
          return r.rps;
        },
      );
      if (errors > 0) throw new Error(`${errors} requests failed during P7`);
      const ratio = result.candidate / result.baseline;
      const [baseP99, ourP99] = [p99.baseline, p99.candidate].map(
        (v) => [...v].sort((a, b) => a - b)[v.length >> 1] ?? 0,
      );
      return {
        id: "P7",
        what: `HTTP projects.list vs Drizzle's RLS pattern (median round p99 ${ourP99?.toFixed(0)} ms vs ${baseP99?.toFixed(0)} ms); ${latencyOf(all.candidate)} (pattern ${latencyOf(all.baseline)})`,
        baseline: `${Math.round(result.baseline)} req/s`,
        measured: `${Math.round(result.candidate)} req/s`,
        ratio,
        target: ">= 2.00x, p99 no worse",
        ok: ratio >= 2 && (ourP99 ?? 0) <= (baseP99 ?? 0),
      };
    } finally {
      await server.stop();
    }
  } finally {
    await scratch.drop();
  }
}
