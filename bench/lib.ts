/** Shared pieces of the benchmarks: a scratch PostgreSQL database, timing loops, statistics, tables. */
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { migratePostgresUrl } from "../db/migrate.js";
import { databaseUrl } from "../db/url.js";

export const quick = process.argv.includes("--quick");

export const serverUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export const urlFor = (database: string, user?: string) => databaseUrl(serverUrl, database, user);

/**
 * The baseline of P1 and P2: the SELECT `projects.list` sends for a first page of 50, with
 * `tenant_id = $1` and its order (`desc nulls last`, so the index serves it; see `newestFirst`),
 * run by raw postgres.js with no transaction and no RLS.
 */
export const baselineRead = (sql: postgres.Sql, tenantId: string) => sql`
  select id, name, description, created_by, created_at, updated_at from projects
  where tenant_id = ${tenantId} order by created_at desc nulls last, id desc nulls last limit 50`;

/**
 * The baseline of P6: what `tasks.create` writes — the task, then its audit event — in one
 * transaction by raw postgres.js, with no context, membership check or RLS.
 */
export const baselineWrite = (
  sql: postgres.Sql,
  who: { tenantId: string; userId: string; projectId: string; title: string },
) =>
  sql.begin(async (tx) => {
    const [task] = await tx<BaselineTask[]>`
      insert into tasks (tenant_id, project_id, title) values (${who.tenantId}, ${who.projectId}, ${who.title})
      returning id, project_id, title, status, assignee_id, created_at, updated_at`;
    await tx`
      insert into audit_events (tenant_id, actor_id, action, target_type, target_id, request_id)
      values (${who.tenantId}, ${who.userId}, 'task.created', 'task', ${task?.id ?? null}, 'baseline')`;
    return task;
  });

/** The task row the baseline write returns (its columns as PostgreSQL names them). */
export interface BaselineTask {
  id: string;
  project_id: string;
  title: string;
  status: string;
  assignee_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** Creates and migrates a scratch database; `drop()` removes it. */
export async function scratchDatabase(label: string) {
  const name = `bulkhead_bench_${label}_${process.pid}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  await migratePostgresUrl(urlFor(name));
  const owner = postgres(urlFor(name), { max: 4, onnotice: () => {} });
  return {
    name,
    /** Superuser connection: seeds data and runs the no-RLS baselines. */
    owner,
    ownerDb: drizzle(owner),
    async drop() {
      await owner.end();
      const dropper = postgres(serverUrl, { max: 1, onnotice: () => {} });
      await dropper.unsafe(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}

/** Runs `op` from `concurrency` workers for `ms`; returns operations per second. */
export async function throughput(op: (worker: number, i: number) => Promise<unknown>, concurrency: number, ms: number) {
  const deadline = performance.now() + ms;
  let count = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < deadline && i < 10_000_000; i++) {
        await op(worker, i);
        count++;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

/** "p50 12.3 / p99 45.6 ms": how an HTTP row reports its latencies. */
export const latencyOf = (latencies: number[]) =>
  `p50 ${percentile(latencies, 50).toFixed(1)} / p99 ${percentile(latencies, 99).toFixed(1)} ms`;

/** Alternates baseline and candidate for `rounds` rounds; returns both medians. */
export async function alternate(rounds: number, baseline: () => Promise<number>, candidate: () => Promise<number>) {
  const { medians, rounds: all } = await alternateAll(rounds, { baseline, candidate });
  return {
    baseline: medians.baseline,
    candidate: medians.candidate,
    baselineRounds: all.baseline,
    candidateRounds: all.candidate,
  };
}

/**
 * Runs each of `runs` once per round for `rounds` rounds, the order rotated each round so no run
 * always follows the same neighbour; returns each run's median and its rounds.
 */
export async function alternateAll<K extends string>(rounds: number, runs: Record<K, () => Promise<number>>) {
  const keys = Object.keys(runs) as K[];
  const all = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[(round + i) % keys.length] as K;
      all[key].push(await runs[key]());
    }
  }
  const medians = Object.fromEntries(keys.map((key) => [key, median(all[key])])) as Record<K, number>;
  return { medians, rounds: all };
}

export interface Row {
  id: string;
  what: string;
  baseline: string;
  measured: string;
  ratio: number | null;
  target: string;
  ok: boolean;
  /** A reference point with no target of its own (printed as "info", never a miss). */
  info?: boolean;
}

export function printTable(rows: Row[]) {
  const header = ["", "benchmark", "baseline", "Bulkhead", "ratio", "target", ""];
  const lines = rows.map((r) => [
    r.id,
    r.what,
    r.baseline,
    r.measured,
    r.ratio === null ? "" : `${r.ratio.toFixed(2)}x`,
    r.target,
    r.info ? "info" : r.ok ? "ok" : "MISSED",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const format = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  console.log(format(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const line of lines) console.log(format(line));
}

export function progress(label: string, done: number, total: number) {
  if (!process.stdout.isTTY && done !== total && done % Math.max(1, Math.floor(total / 10)) !== 0) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  const line = `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done.toLocaleString("en")}/${total.toLocaleString("en")}`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line}${done === total ? "\n" : ""}`);
  else console.log(line);
}
