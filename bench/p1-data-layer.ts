/**
 * P1 — data-layer overhead: a tenant-scoped read of 50 projects through Bulkhead's data layer
 * (context, membership and session check, RLS, exactly as `projects.list` runs it) vs. the same SELECT with
 * `WHERE tenant_id = $1` sent by raw postgres.js, no transaction, no RLS. Same pool (10) and
 * concurrency (32).
 */
import postgres from "postgres";
import { connectPostgres } from "../db/postgres.js";
import { readsFor } from "../db/reads.js";
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
            // Exactly what projects.list runs: one statement that enters the context, checks
            // membership and session, and reads the page under RLS.
            const reads = readsFor(app.db, {
              tenantId: t.tenantId,
              userId: t.userId,
              sessionId: t.sessionId,
              tenantSlug: null,
              statementTimeoutMs: 5000,
            });
            const page = await listProjects(reads.run, t, { limit: 49 });
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
      target: ">= 0.80x",
      ok: ratio >= 0.8,
    };
  } finally {
    await scratch.drop();
  }
}
