/**
 * P6 — writes: `tasks.create` over HTTP (tRPC, JWT, the member's transaction: context and
 * membership, the insert and its audit row and change event, COMMIT) vs. a plain Hono route in
 * the same server writing the same two rows in one raw postgres.js transaction (target ≥ 0.55×).
 * P6c is the floor of that stack for a write: a bare tRPC procedure with tasks.create's input,
 * the token verified, running the raw route's transaction; printed against the raw route, and
 * P6 against it (P6f), as P2c is for reads. The three run in the same rounds, rotated.
 */
import {
  bareCreateRequest,
  baselineWriteRequest,
  createTaskRequest,
  type LoadRequest,
  rotatedLoads,
  startBenchServer,
} from "./http.js";
import { quick, type Row, scratchDatabase } from "./lib.js";
import { projectOfEachTenant, seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

export async function benchWrites(): Promise<Row[]> {
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
      const requests: Record<"raw" | "bare" | "create", LoadRequest> = {
        raw: (w, i) => baselineWriteRequest(pick(w, i), `t${i}`),
        bare: (w, i) => {
          const who = pick(w, i);
          return bareCreateRequest(who?.token, who?.projectId, `t${i}`);
        },
        create: (w, i) => {
          const who = pick(w, i);
          return createTaskRequest(who?.token, who?.projectId, `t${i}`);
        },
      };
      const { medians, tail } = await rotatedLoads(server.origin, "P6", requests, {
        concurrency,
        ms,
        rounds: quick ? 5 : 7,
        warmMs: 1500,
      });
      const ratio = medians.create / medians.raw;
      return [
        {
          id: "P6",
          what: `HTTP tasks.create: task + audit in one transaction (${concurrency} concurrent); ${tail("create")}`,
          baseline: `${Math.round(medians.raw)} req/s`,
          measured: `${Math.round(medians.create)} req/s`,
          ratio,
          target: ">= 0.55x",
          ok: ratio >= 0.55,
        },
        {
          id: "P6c",
          what: `the write's floor: bare tRPC + superjson running the raw transaction, against the raw route; ${tail("bare")} (raw ${tail("raw")})`,
          baseline: `${Math.round(medians.raw)} req/s`,
          measured: `${Math.round(medians.bare)} req/s`,
          ratio: medians.bare / medians.raw,
          target: "",
          ok: true,
          info: true,
        },
        {
          id: "P6f",
          what: "P6 against P6c: what Bulkhead adds to a write on the stack it must use",
          baseline: `${Math.round(medians.bare)} req/s`,
          measured: `${Math.round(medians.create)} req/s`,
          ratio: medians.create / medians.bare,
          target: "",
          ok: true,
          info: true,
        },
      ];
    } finally {
      await server.stop();
    }
  } finally {
    await scratch.drop();
  }
}
