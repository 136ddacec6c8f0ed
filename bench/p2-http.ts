/**
 * P2 — end to end: `projects.list` over HTTP (tRPC, JWT verification, the one-statement read, RLS)
 * vs. a plain Hono route in the same server process running the baseline SELECT, both loaded at
 * the same concurrency. Also records the server's peak RSS (Memory).
 */

import { listPath, load, startBenchServer } from "./http.js";
import { median, quick, type Row, scratchDatabase } from "./lib.js";
import { seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

export async function benchHttp(): Promise<Row[]> {
  const scratch = await scratchDatabase("p2");
  try {
    const tenants = await seedTenants(scratch.owner, 20, 60, "P2 seeding");
    const tokens = await Promise.all(tenants.map((t) => accessTokenFor(t)));
    const server = await startBenchServer(scratch.name);
    // The same server with WIRE_SERIALIZER=superjson: what the one-pass serializer buys (decision 008).
    const plain = await startBenchServer(scratch.name, { WIRE_SERIALIZER: "superjson" });
    try {
      const concurrency = 32;
      const ms = quick ? 1500 : 4000;
      const pick = (w: number, i: number) => (w * 7919 + i) % tenants.length;
      // Warm both paths (JIT, connections) before measuring, at the measured concurrency: a perf
      // profile of the server after 1.5 s of load still showed V8 compiling (a tenth of its CPU).
      await load(server.origin, concurrency, 2000, (w, i) => ({
        path: `/baseline/projects?tenant=${tenants[pick(w, i)]?.tenantId}`,
      }));
      await load(server.origin, concurrency, 2000, (w, i) => ({
        path: listPath(50),
        headers: { authorization: `Bearer ${tokens[pick(w, i)]}` },
      }));
      await load(plain.origin, concurrency, 2000, (w, i) => ({
        path: listPath(50),
        headers: { authorization: `Bearer ${tokens[pick(w, i)]}` },
      }));
      let errors = 0;
      const baselineOf = async (origin: string) => {
        const r = await load(origin, concurrency, ms, (w, i) => ({
          path: `/baseline/projects?tenant=${tenants[pick(w, i)]?.tenantId}`,
        }));
        errors += r.errors;
        return r.rps;
      };
      const listOf = async (origin: string) => {
        const r = await load(origin, concurrency, ms, (w, i) => ({
          path: listPath(50),
          headers: { authorization: `Bearer ${tokens[pick(w, i)]}` },
        }));
        errors += r.errors;
        return r.rps;
      };
      // Both servers in every round, each against its own baseline route, in one window.
      const rounds = {
        baseline: [] as number[],
        list: [] as number[],
        plainBaseline: [] as number[],
        plain: [] as number[],
      };
      for (let round = 0; round < (quick ? 5 : 7); round++) {
        rounds.baseline.push(await baselineOf(server.origin));
        rounds.list.push(await listOf(server.origin));
        rounds.plainBaseline.push(await baselineOf(plain.origin));
        rounds.plain.push(await listOf(plain.origin));
      }
      const result = { baseline: median(rounds.baseline), candidate: median(rounds.list) };
      const plainResult = { baseline: median(rounds.plainBaseline), candidate: median(rounds.plain) };
      if (errors > 0) throw new Error(`${errors} requests failed during P2`);
      const ratio = result.candidate / result.baseline;
      const plainRatio = plainResult.candidate / plainResult.baseline;
      const peak = server.peakRssMb();
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
          id: "P2s",
          what: "the same with WIRE_SERIALIZER=superjson (what the serializer buys)",
          baseline: `${Math.round(plainResult.baseline)} req/s`,
          measured: `${Math.round(plainResult.candidate)} req/s`,
          ratio: plainRatio,
          target: "P2 - 0.10x or less",
          ok: ratio - plainRatio >= 0.1,
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
      await plain.stop();
    }
  } finally {
    await scratch.drop();
  }
}
