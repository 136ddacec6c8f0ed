/**
 * P10 — latency under load: 200 concurrent clients across 50 tenants, 80% reads
 * (`projects.list`) and 20% writes (`tasks.create`), for 30 s (5 s in quick mode). No baseline:
 * the row reports throughput, p50 and p99, and its target is no failed request.
 */
import { createTaskRequest, listPath, load, startBenchServer } from "./http.js";
import { latencyOf, quick, type Row, scratchDatabase } from "./lib.js";
import { projectOfEachTenant, seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

export async function benchMixed(): Promise<Row> {
  const scratch = await scratchDatabase("p10");
  try {
    const tenants = await seedTenants(scratch.owner, 50, 20, "P10 seeding");
    const projectOf = await projectOfEachTenant(scratch.owner);
    const clients = await Promise.all(
      tenants.map(async (t) => ({ projectId: projectOf.get(t.tenantId) ?? "", token: await accessTokenFor(t) })),
    );
    const server = await startBenchServer(scratch.name);
    try {
      const concurrency = 200;
      const ms = quick ? 5000 : 30_000;
      const request = (worker: number, i: number) => {
        const who = clients[(worker * 7919 + i) % clients.length] ?? clients[0];
        const headers = { authorization: `Bearer ${who?.token}` };
        // One request in five writes.
        return (worker + i) % 5 === 0
          ? createTaskRequest(who?.token, who?.projectId, `load ${worker}-${i}`)
          : { path: listPath(20), headers };
      };
      await load(server.origin, concurrency, 2000, request); // warm up
      const result = await load(server.origin, concurrency, ms, request);
      return {
        id: "P10",
        what: `${concurrency} clients over ${clients.length} tenants, 80% projects.list / 20% tasks.create, ${ms / 1000} s: ${latencyOf(result.latencies)}, ${result.errors} errors`,
        baseline: "",
        measured: `${Math.round(result.rps)} req/s`,
        ratio: null,
        target: "0 errors",
        ok: result.errors === 0,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await scratch.drop();
  }
}
