/**
 * P13 — machine access: `GET /api/v1/projects` (the REST face, trpc-to-openapi) with a workspace
 * API key, against `projects.list` over tRPC with a member's JWT, in the same rounds at the same
 * concurrency (target ≥ 0.8×). Both run the same procedure and the same one-statement read; the
 * REST path adds the key (a SHA-256 of its secret, its budget spent locally, the hash compared in
 * `app.enter_member`) and trpc-to-openapi's routing and JSON. The issue named it P10, which is the
 * mixed load row.
 */
import { createHash, randomBytes } from "node:crypto";
import { listPath, rotatedLoads, startBenchServer } from "./http.js";
import { quick, type Row, scratchDatabase } from "./lib.js";
import { seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

export async function benchRest(): Promise<Row> {
  const scratch = await scratchDatabase("p13");
  try {
    const tenants = await seedTenants(scratch.owner, 20, 60, "P13 seeding");
    const tokens = await Promise.all(tenants.map((t) => accessTokenFor(t)));
    // One key per tenant, made as apiKeys.create makes them: only the secret's SHA-256 is stored.
    const keys: string[] = [];
    for (const tenant of tenants) {
      const id = crypto.randomUUID();
      const secret = randomBytes(32).toString("base64url");
      const hash = createHash("sha256").update(secret).digest("hex");
      await scratch.owner`insert into api_keys (tenant_id, id, name, prefix, secret_hash, role, created_by)
        values (${tenant.tenantId}, ${id}, 'bench', 'bhk_bench', ${hash}, 'member', ${tenant.userId})`;
      keys.push(`bhk_${id.replaceAll("-", "")}${tenant.tenantId.replaceAll("-", "")}_${secret}`);
    }
    // The budget is measured in tests/api-keys.test.ts; here it must not be what stops requests.
    const server = await startBenchServer(scratch.name, { API_KEY_REQUESTS_PER_MINUTE: "1000000" });
    try {
      const concurrency = 32;
      const ms = quick ? 1500 : 4000;
      const pick = (w: number, i: number) => (w * 7919 + i) % tenants.length;
      const { medians, tail } = await rotatedLoads(
        server.origin,
        "P13",
        {
          trpc: (w, i) => ({ path: listPath(50), headers: { authorization: `Bearer ${tokens[pick(w, i)]}` } }),
          rest: (w, i) => ({
            path: "/api/v1/projects?limit=50",
            headers: { authorization: `Bearer ${keys[pick(w, i)]}` },
          }),
        },
        { concurrency, ms, rounds: quick ? 5 : 7, warmMs: 2000 },
      );
      const { trpc: baseline, rest: candidate } = medians;
      const ratio = candidate / baseline;
      return {
        id: "P13",
        what: `REST GET /api/v1/projects with an API key (50 rows, ${concurrency} concurrent) against projects.list over tRPC with a JWT; REST ${tail("rest")}, tRPC ${tail("trpc")}`,
        baseline: `${Math.round(baseline)} req/s`,
        measured: `${Math.round(candidate)} req/s`,
        ratio,
        target: ">= 0.80x",
        ok: ratio >= 0.8,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await scratch.drop();
  }
}
