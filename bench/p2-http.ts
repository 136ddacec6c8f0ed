/**
 * P2 — end to end: `projects.list` over HTTP (tRPC, JWT verification, the one-statement read, RLS)
 * vs. a plain Hono route in the same server process running the baseline SELECT, both loaded at
 * the same concurrency. Also records the server's peak RSS (Memory), and P2c: the same page through
 * a bare tRPC procedure reading with raw postgres.js, the floor of the stack P2 runs on.
 */

import { listPath, load, startBenchServer } from "./http.js";
import { alternate, quick, type Row, scratchDatabase } from "./lib.js";
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
      type LoadRequest = Parameters<typeof load>[3];
      const baselineRequest: LoadRequest = (w, i) => ({
        path: `/baseline/projects?tenant=${tenants[pick(w, i)]?.tenantId}`,
      });
      const listRequest: LoadRequest = (w, i) => ({
        path: listPath(50),
        headers: { authorization: `Bearer ${tokens[pick(w, i)]}` },
      });
      // Warm both paths (JIT, connections) before measuring, at the measured concurrency: a perf
      // profile of the server after 1.5 s of load still showed V8 compiling (a tenth of its CPU).
      await load(server.origin, concurrency, 2000, baselineRequest);
      await load(server.origin, concurrency, 2000, listRequest);
      let errors = 0;
      /** One round of `request`: its requests per second, its failures counted. */
      const rateOf = (request: LoadRequest) => async () => {
        const r = await load(server.origin, concurrency, ms, request);
        errors += r.errors;
        return r.rps;
      };
      const baselineOf = rateOf(baselineRequest);
      const result = await alternate(quick ? 5 : 7, baselineOf, rateOf(listRequest));
      const peak = server.peakRssMb();
      // P2c: the same page through a bare tRPC procedure (server/trpc.ts's init and superjson,
      // the token verified) reading with raw postgres.js — the most P2's stack allows.
      const bareInput = encodeURIComponent(JSON.stringify({ json: { limit: 49 } }));
      const bareOf = rateOf((w, i) => ({
        path: `/bare/list?input=${bareInput}`,
        headers: { authorization: `Bearer ${tokens[pick(w, i)]}` },
      }));
      const floor = await alternate(quick ? 3 : 5, baselineOf, bareOf);
      if (errors > 0) throw new Error(`${errors} requests failed during P2`);
      const ratio = result.candidate / result.baseline;
      return [
        {
          id: "P2",
          what: `HTTP projects.list (50 rows, ${concurrency} concurrent)`,
          baseline: `${Math.round(result.baseline)} req/s`,
          measured: `${Math.round(result.candidate)} req/s`,
          ratio,
          target: ">= 0.65x",
          ok: ratio >= 0.65,
        },
        {
          id: "P2c",
          what: "P2's floor: bare tRPC + superjson over raw postgres.js (no middleware, RLS, membership)",
          baseline: `${Math.round(floor.baseline)} req/s`,
          measured: `${Math.round(floor.candidate)} req/s`,
          ratio: floor.candidate / floor.baseline,
          target: "",
          ok: true,
          info: true,
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
