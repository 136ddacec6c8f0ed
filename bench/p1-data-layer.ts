/**
 * P1 — data-layer overhead: a tenant-scoped read of 50 projects through Bulkhead's data layer
 * (transaction, context, RLS, exactly as requests run it) vs. the same SELECT with
 * `WHERE tenant_id = $1` sent by raw postgres.js, no transaction, no RLS. Same pool (10) and
 * concurrency (32).
 */
import postgres from "postgres";
import { connectPostgres } from "../db/postgres.js";
import { withTenantPipelined } from "../db/tenant.js";
import { listProjects } from "../server/routers/projects.js";
import { alternate, baselineRead, quick, type Row, scratchDatabase, throughput, urlFor } from "./lib.js";
import { seedTenants } from "./seed.js";

export async function benchDataLayer(): Promise<Row> {
  const scratch = await scratchDatabase("p1");
  try {
    const tenants = await seedTenants(scratch.owner, 20, 60, "P1 seeding");
    const raw = postgres(urlFor(scratch.name), { max: 10, onnotice: () => {} });
    const app = connectPostgres({ url: urlFor(scratch.name, "bulkhead_app"), poolMax: 10 });
    const pick = (i: number) => tenants[i % tenants.length] ?? tenants[0];
    const ms = quick ? 1200 : 4000;
    const rounds = quick ? 3 : 5;
    const result = await alternate(
      rounds,
      () =>
        throughput(
          async (w, i) => {
            const t = pick(w * 7919 + i);
            if (!t) return;
            const rows = await baselineRead(raw, t.tenantId);
            if (rows.length !== 50) throw new Error("baseline read the wrong rows");
          },
          32,
          ms,
        ),
      () =>
        throughput(
          async (w, i) => {
            const t = pick(w * 7919 + i);
            if (!t) return;
            // Exactly what tenantProcedure does for a query: read-only transaction, the context
            // pipelined with the first statement, membership confirmed before the result is used.
            const page = await withTenantPipelined(
              app.db,
              { tenantId: t.tenantId, userId: t.userId, sessionId: t.sessionId },
              async (tx, role) => {
                const result = await listProjects(tx, t.tenantId, { limit: 49 });
                if (!(await role)) throw new Error("not a member");
                return result;
              },
              { readOnly: true, statementTimeoutMs: 5000 },
            );
            if (page.items.length !== 49) throw new Error("data layer read the wrong rows");
          },
          32,
          ms,
        ),
    );
    await raw.end();
    await app.close();
    const ratio = result.candidate / result.baseline;
    return {
      id: "P1",
      what: "data layer: read 50 projects (pool 10, 32 concurrent)",
      baseline: `${Math.round(result.baseline)} ops/s`,
      measured: `${Math.round(result.candidate)} ops/s`,
      ratio,
      target: ">= 0.50x",
      ok: ratio >= 0.5,
    };
  } finally {
    await scratch.drop();
  }
}
