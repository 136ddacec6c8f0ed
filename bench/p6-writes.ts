/**
 * P6 — writes: `tasks.create` over HTTP (tRPC, JWT, the member's transaction: context and
 * membership, the project check, the insert and its audit event, COMMIT) vs. a plain Hono route
 * in the same server writing the same two rows in one raw postgres.js transaction.
 */
import { baselineWriteRequest, createTaskRequest, load, startBenchServer } from "./http.js";
import { alternate, latencyOf, quick, type Row, scratchDatabase } from "./lib.js";
import { projectOfEachTenant, seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

export async function benchWrites(): Promise<Row> {
  const scratch = await scratchDatabase("p6");
  try {
    const tenants = await seedTenants(scratch.owner, 20, 5, "P6 seeding");
    const projectOf = await projectOfEachTenant(scratch.owner);
    const writers = await Promise.all(
      tenants.map(async (t) => ({ ...t, projectId: projectOf.get(t.tenantId) ?? "", token: await accessTokenFor(t) })),
    );
    const server = await startBenchServer(scratch.name);
    try {
      const concurrency = 32;
      const ms = quick ? 1500 : 4000;
      const pick = (w: number, i: number) => writers[(w * 7919 + i) % writers.length] ?? writers[0];
      const baseline = (duration: number) =>
        load(server.origin, concurrency, duration, (w, i) => baselineWriteRequest(pick(w, i), `t${i}`));
      const bulkhead = (duration: number) =>
        load(server.origin, concurrency, duration, (w, i) => {
          const who = pick(w, i);
          return createTaskRequest(who?.token, who?.projectId, `t${i}`);
        });
      await baseline(1500);
      await bulkhead(1500);
      let errors = 0;
      const latencies: number[] = [];
      const result = await alternate(
        quick ? 5 : 7,
        async () => {
          const r = await baseline(ms);
          errors += r.errors;
          return r.rps;
        },
        async () => {
          const r = await bulkhead(ms);
          errors += r.errors;
          latencies.push(...r.latencies);
          return r.rps;
        },
      );
      if (errors > 0) throw new Error(`${errors} requests failed during P6`);
      const ratio = result.candidate / result.baseline;
      return {
        id: "P6",
        what: `HTTP tasks.create: task + audit in one transaction (${concurrency} concurrent); ${latencyOf(latencies)}`,
        baseline: `${Math.round(result.baseline)} req/s`,
        measured: `${Math.round(result.candidate)} req/s`,
        ratio,
        target: ">= 0.55x",
        ok: ratio >= 0.55,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await scratch.drop();
  }
}
