/**
 * P2 — end to end: `projects.list` over HTTP (tRPC, JWT verification, the one-statement read,
 * membership, session, RLS) against P2c, the same page through a bare tRPC procedure reading with
 * raw postgres.js: what Bulkhead adds on the stack it must use (target ≥ 0.85×). P2c against a
 * plain Hono route running the baseline SELECT is that stack's own cost (target ≥ 0.60×, what it
 * reaches: the profile in BENCHMARKS.md shows the rest is tRPC's and superjson's own code), and P2
 * against the raw route is printed beside them. The three run in the same rounds, in rotated
 * order, at the same concurrency. Also records the server's peak RSS (Memory).
 */

import { barePath, listPath, rotatedLoads, startBenchServer } from "./http.js";
import { quick, type Row, scratchDatabase } from "./lib.js";
import { seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

export async function benchHttp(): Promise<Row[]> {
  const scratch = await scratchDatabase("p2");
  try {
    const tenants = await seedTenants(scratch.owner, 20, 60, "P2 seeding");
    const tokens = await Promise.all(tenants.map((t) => accessTokenFor(t)));
    const server = await startBenchServer(scratch.name);
    try {
      const concurrency = 32;
      const ms = quick ? 1500 : 4000;
      const pick = (w: number, i: number) => (w * 7919 + i) % tenants.length;
      // Every path is warmed (JIT, connections) the same way before measuring, at the measured
      // concurrency: a perf profile of the server after 1.5 s of load still showed V8 compiling.
      const { medians, tail } = await rotatedLoads(
        server.origin,
        "P2",
        {
          raw: (w, i) => ({ path: `/baseline/projects?tenant=${tenants[pick(w, i)]?.tenantId}` }),
          bare: (w, i) => ({ path: barePath, headers: { authorization: `Bearer ${tokens[pick(w, i)]}` } }),
          list: (w, i) => ({ path: listPath(50), headers: { authorization: `Bearer ${tokens[pick(w, i)]}` } }),
        },
        { concurrency, ms, rounds: quick ? 5 : 7, warmMs: 2000 },
      );
      const peak = server.peakRssMb();
      const ratio = medians.list / medians.bare;
      const floor = medians.bare / medians.raw;
      return [
        {
          id: "P2",
          what: `HTTP projects.list (50 rows, ${concurrency} concurrent) against P2c; ${tail("list")}`,
          baseline: `${Math.round(medians.bare)} req/s`,
          measured: `${Math.round(medians.list)} req/s`,
          ratio,
          target: ">= 0.85x",
          ok: ratio >= 0.85,
        },
        {
          id: "P2r",
          what: "P2 against the raw Hono route",
          baseline: `${Math.round(medians.raw)} req/s`,
          measured: `${Math.round(medians.list)} req/s`,
          ratio: medians.list / medians.raw,
          target: "",
          ok: true,
          info: true,
        },
        {
          id: "P2c",
          what: `the floor: bare tRPC + superjson over raw postgres.js, against the raw route; ${tail("bare")} (raw ${tail("raw")})`,
          baseline: `${Math.round(medians.raw)} req/s`,
          measured: `${Math.round(medians.bare)} req/s`,
          ratio: floor,
          target: ">= 0.60x",
          ok: floor >= 0.6,
        },
        {
          id: "Mem",
          what: "server peak RSS during P2",
          baseline: "",
          measured: `${peak.toFixed(0)} MB`,
          ratio: null,
          target: "<= 250 MB",
          ok: peak <= 250,
        },
      ];
    } finally {
      await server.stop();
    }
  } finally {
    await scratch.drop();
  }
}
