/**
 * P11 — on a Citus cluster: `projects.list` and `tasks.create` over HTTP against the cluster's
 * coordinator, beside the same against one PostgreSQL, in alternated rounds of the same run
 * (the same server code, the same seed). Only where a cluster answers on CITUS_URL (default the
 * coordinator of ../shared/citus/cluster.sh, whose database `bulkhead` it reseeds); otherwise a
 * row that says it was skipped. A reference, not a target: a cluster on the same machine as the
 * load shares its cores, so the ratio says what the extra hop costs, not what scaling out buys.
 */
import postgres from "postgres";
import { citusVersionAt, localCitusUrl } from "../db/distribute.js";
import { migratePostgresUrl } from "../db/migrate.js";
import { databaseUrl } from "../db/url.js";
import { createTaskRequest, type LoadRequest, listPath, load, startBenchServer } from "./http.js";
import { alternateAll, latencyOf, quick, type Row, scratchDatabase } from "./lib.js";
import { projectOfEachTenant, seedTenants } from "./seed.js";
import { accessTokenFor } from "./tokens.js";

const citusUrl = process.env.CITUS_URL ?? localCitusUrl;

export async function benchCitus(): Promise<Row[]> {
  if (!(await citusVersionAt(citusUrl))) {
    return [
      {
        id: "P11",
        what: `skipped: no Citus cluster answers on ${citusUrl}`,
        baseline: "-",
        measured: "-",
        ratio: null,
        target: "-",
        ok: true,
        info: true,
      },
    ];
  }
  const single = await scratchDatabase("p11");
  await migratePostgresUrl(citusUrl);
  const cluster = postgres(citusUrl, { max: 4, onnotice: () => {} });
  const servers: Awaited<ReturnType<typeof startBenchServer>>[] = [];
  try {
    // The same seed on both: 20 tenants of 50 projects.
    await cluster`truncate tenants cascade`;
    const prepared: { projectId: string; token: string }[][] = [];
    for (const [owner, label] of [
      [single.owner, "P11 seeding PostgreSQL"],
      [cluster, "P11 seeding Citus"],
    ] as const) {
      const tenants = await seedTenants(owner, 20, 50, label);
      const projectOf = await projectOfEachTenant(owner);
      prepared.push(
        await Promise.all(
          tenants.map(async (t) => ({ projectId: projectOf.get(t.tenantId) ?? "", token: await accessTokenFor(t) })),
        ),
      );
    }
    servers.push(await startBenchServer(single.name));
    servers.push(
      await startBenchServer(single.name, {
        BENCH_APP_URL: databaseUrl(citusUrl, new URL(citusUrl).pathname.slice(1), "bulkhead_app"),
        BENCH_BASELINE_URL: citusUrl,
      }),
    );
    const concurrency = 32;
    const ms = quick ? 1500 : 4000;
    const requests = (n: number) => {
      const who = prepared[n] ?? [];
      const pick = (w: number, i: number) => who[(w * 7919 + i) % who.length];
      const list: LoadRequest = (w, i) => ({
        path: listPath(50),
        headers: { authorization: `Bearer ${pick(w, i)?.token}` },
      });
      const create: LoadRequest = (w, i) => createTaskRequest(pick(w, i)?.token, pick(w, i)?.projectId, `t${i}`);
      return { list, create };
    };
    const [pg, citus] = [requests(0), requests(1)];
    let errors = 0;
    const latencies: Record<string, number[]> = { pgList: [], citusList: [], pgCreate: [], citusCreate: [] };
    const rate = (server: number, request: LoadRequest, key: string) => async () => {
      const r = await load(servers[server]?.origin ?? "", concurrency, ms, request);
      errors += r.errors;
      latencies[key]?.push(...r.latencies);
      return r.rps;
    };
    for (const [server, set] of [
      [0, pg],
      [1, citus],
    ] as const) {
      await load(servers[server]?.origin ?? "", concurrency, 1500, set.list);
      await load(servers[server]?.origin ?? "", concurrency, 1500, set.create);
    }
    const { medians } = await alternateAll(quick ? 3 : 5, {
      pgList: rate(0, pg.list, "pgList"),
      citusList: rate(1, citus.list, "citusList"),
      pgCreate: rate(0, pg.create, "pgCreate"),
      citusCreate: rate(1, citus.create, "citusCreate"),
    });
    if (errors > 0) throw new Error(`${errors} requests failed during P11`);
    const row = (what: string, base: number, measured: number): Row => ({
      id: "P11",
      what,
      baseline: `${Math.round(base)} req/s on one PostgreSQL`,
      measured: `${Math.round(measured)} req/s on Citus`,
      ratio: measured / base,
      target: "-",
      ok: true,
      info: true,
    });
    return [
      row(
        `HTTP projects.list (50 rows, ${concurrency} concurrent), 3-node cluster on this machine; Citus ${latencyOf(latencies.citusList ?? [])} (one PostgreSQL ${latencyOf(latencies.pgList ?? [])})`,
        medians.pgList,
        medians.citusList,
      ),
      row(
        `HTTP tasks.create (${concurrency} concurrent), 3-node cluster on this machine; Citus ${latencyOf(latencies.citusCreate ?? [])} (one PostgreSQL ${latencyOf(latencies.pgCreate ?? [])})`,
        medians.pgCreate,
        medians.citusCreate,
      ),
    ];
  } finally {
    for (const server of servers) await server.stop();
    await cluster.end();
    await single.drop();
  }
}
