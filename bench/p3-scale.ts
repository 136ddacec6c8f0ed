/**
 * P3 — scale: `projects.list` p50 over HTTP on a database of 10,000 tenants x 100 projects
 * (1,000,000 rows; --quick: 1,000 x 100) against the same on a 10-tenant database, and the plan
 * of the per-tenant count (`projects.stats`): the tenant policy must be an index condition or a
 * one-time filter, never a per-row filter.
 */
import { sql } from "drizzle-orm";
import { connectPostgres } from "../db/postgres.js";
import { withTenant } from "../db/tenant.js";
import { rowsOf } from "../db/types.js";
import { listPath, load, startBenchServer } from "./http.js";
import { median, percentile, quick, type Row, scratchDatabase, urlFor } from "./lib.js";
import { seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

async function p50(origin: string, tokens: string[], ms: number) {
  const result = await load(origin, 4, ms, (w, i) => ({
    path: listPath(50),
    headers: { authorization: `Bearer ${tokens[(w * 7919 + i * 31) % tokens.length]}` },
  }));
  if (result.errors > 0) throw new Error(`${result.errors} failed requests in P3`);
  return percentile(result.latencies, 50);
}

export async function benchScale(): Promise<Row[]> {
  const bigTenants = quick ? 1_000 : 10_000;
  const small = await scratchDatabase("p3small");
  const big = await scratchDatabase("p3big");
  try {
    const smallSeed = await seedTenants(small.owner, 10, 100, "P3 small");
    const bigSeed = await seedTenants(big.owner, bigTenants, 100, "P3 large");
    const sample = (seed: typeof bigSeed) =>
      seed.filter((_, i) => i % Math.max(1, Math.floor(seed.length / 200)) === 0);
    const smallTokens = await Promise.all(sample(smallSeed).map((t) => accessTokenFor(t)));
    const bigTokens = await Promise.all(sample(bigSeed).map((t) => accessTokenFor(t)));
    const smallServer = await startBenchServer(small.name);
    const bigServer = await startBenchServer(big.name);
    let ratio: number;
    let smallP50: number;
    let bigP50: number;
    try {
      // Warm both: every sampled tenant's first page once (its index and heap pages into the
      // buffer cache, its token into the server's cache), then a short run each, so the rounds
      // compare steady states rather than the large database's first touches.
      for (const [server, tokens] of [
        [smallServer, smallTokens],
        [bigServer, bigTokens],
      ] as const) {
        await load(
          server.origin,
          1,
          60_000,
          (_, i) => ({
            path: listPath(50),
            headers: { authorization: `Bearer ${tokens[i % tokens.length]}` },
          }),
          tokens.length,
        );
        await p50(server.origin, tokens, 500);
      }
      const s: number[] = [];
      const b: number[] = [];
      for (let round = 0; round < (quick ? 3 : 7); round++) {
        s.push(await p50(smallServer.origin, smallTokens, quick ? 1000 : 2500));
        b.push(await p50(bigServer.origin, bigTokens, quick ? 1000 : 2500));
      }
      smallP50 = median(s);
      bigP50 = median(b);
      ratio = bigP50 / smallP50;
    } finally {
      await smallServer.stop();
      await bigServer.stop();
    }

    // The per-tenant count path, as projects.stats runs it (explicit tenant predicate + policy).
    const app = connectPostgres({ url: urlFor(big.name, "bulkhead_app"), poolMax: 1 });
    const who = bigSeed[Math.floor(bigSeed.length / 2)];
    if (!who) throw new Error("no tenant");
    const plan = await withTenant(app.db, who, async (tx) =>
      rowsOf<{ "QUERY PLAN": string }>(
        await tx.execute(
          sql`explain (analyze, costs off, timing off, summary off) select count(*) from projects where tenant_id = ${who.tenantId}`,
        ),
      ).map((r) => r["QUERY PLAN"]),
    );
    await app.close();
    console.log(
      `\nP3 plan of the per-tenant count on ${(bigTenants * 100).toLocaleString("en")} rows:\n  ${plan.join("\n  ")}\n`,
    );
    const text = plan.join("\n");
    // The policy must not be evaluated per row: it may appear only as a one-time filter or
    // inside an index condition.
    const perRowPolicy = plan.some((line) => /^\s*Filter: .*current_setting/.test(line));
    const oneTime = /One-Time Filter: .*current_setting/.test(text);
    const indexed = /Index (Only )?Scan/.test(text) && /Index Cond: .*tenant_id/.test(text);

    return [
      {
        id: "P3",
        what: `projects.list p50, ${(bigTenants * 100).toLocaleString("en")} vs 1,000 rows`,
        baseline: `${smallP50.toFixed(2)} ms`,
        measured: `${bigP50.toFixed(2)} ms`,
        ratio,
        target: "<= 1.20x",
        ok: ratio <= 1.2,
      },
      {
        id: "P3b",
        what: "per-tenant count plan (EXPLAIN)",
        baseline: "",
        measured: perRowPolicy
          ? "policy per row"
          : `${indexed ? "index scan" : "seq scan"}, policy ${oneTime ? "one-time" : "in index cond"}`,
        ratio: null,
        target: "no per-row policy",
        ok: indexed && !perRowPolicy,
      },
    ];
  } finally {
    await small.drop();
    await big.drop();
  }
}
