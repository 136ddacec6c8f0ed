/**
 * Prometheus metrics (prom-client), for `GET /metrics`: requests and their latency by procedure
 * and outcome, sign-in outcomes, the database pool and transaction durations, and the outbox
 * backlog. Labels are procedure names the router knows and outcome codes, never a tenant or a
 * user: the busiest tenants are a log line instead (`access-log.ts`). Node only (prom-client
 * reads Node's process metrics); the Worker has none.
 */
import { sql } from "drizzle-orm";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { activityOf } from "../../db/activity.js";
import { type Database, rowsOf } from "../../db/types.js";
import { within } from "../deadline.js";
import type { CallOutcome, RequestObserver } from "./access-log.js";

export interface Metrics extends RequestObserver {
  registry: Registry;
  /** What a scrape gets: the text format, with its content type. */
  response(): Promise<Response>;
}

const latencyBuckets = [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What a sign-in's tRPC code means for `bulkhead_logins_total`. */
function loginOutcome(code: string): "ok" | "failed" | "throttled" | "error" {
  if (code === "OK") return "ok";
  if (code === "UNAUTHORIZED") return "failed";
  if (code === "TOO_MANY_REQUESTS") return "throttled";
  return "error";
}

/**
 * The Prometheus registry: request counters and latencies, the requests' pool, and the outbox
 * backlog, read on `jobs` (the background jobs' pool; by default the requests' database).
 */
export function createMetrics(database: Database | null, jobs: Database | null = database): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "bulkhead_" });
  const registers = [registry];

  const requests = new Counter({
    name: "bulkhead_requests_total",
    help: "Procedure calls (and other routes) by outcome: a tRPC code, OK, or HTTP_<status>",
    labelNames: ["procedure", "code"] as const,
    registers,
  });
  const latency = new Histogram({
    name: "bulkhead_request_duration_seconds",
    help: "Time from a request's arrival to its response, by procedure and outcome",
    labelNames: ["procedure", "code"] as const,
    buckets: latencyBuckets,
    registers,
  });
  const logins = new Counter({
    name: "bulkhead_logins_total",
    help: "Sign-in attempts by outcome (ok, failed, throttled, error)",
    labelNames: ["outcome"] as const,
    registers,
  });
  for (const outcome of ["ok", "failed", "throttled"]) logins.inc({ outcome }, 0);

  if (database) {
    const activity = activityOf(database.db);
    const transactions = new Histogram({
      name: "bulkhead_db_transaction_duration_seconds",
      help: "Request transactions from BEGIN to COMMIT or ROLLBACK",
      labelNames: ["outcome"] as const,
      buckets: latencyBuckets,
      registers,
    });
    activity.transactionListeners.add((seconds, committed) =>
      transactions.observe({ outcome: committed ? "commit" : "rollback" }, seconds),
    );
    const pool = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    const inUse = () => activity.transactions + activity.reads;
    pool("bulkhead_db_pool_size", "Connections the pool may open (PGlite: 1)", () => activity.poolSize);
    pool("bulkhead_db_pool_in_use", "Open transactions plus one-statement reads in flight", inUse);
    pool("bulkhead_db_pool_idle", "Pool connections not in use (size minus in use)", () =>
      Math.max(0, activity.poolSize - inUse()),
    );
    pool("bulkhead_db_pool_waiting", "Transactions queued for a connection", () => activity.waiting);

    // Both outbox gauges come from one query per scrape.
    let backlog: { at: number; value: Promise<Backlog | null> } | null = null;
    const currentBacklog = () => {
      if (!backlog || performance.now() - backlog.at > 500) {
        // A query across every tenant: on the jobs' pool, never the requests' (docs/scaling-out.md).
        backlog = { at: performance.now(), value: outboxBacklog(jobs ?? database) };
      }
      return backlog.value;
    };
    new Gauge({
      name: "bulkhead_outbox_pending",
      help: "Outbox messages waiting to be sent (-1: the database did not answer the scrape)",
      registers,
      async collect() {
        this.set((await currentBacklog())?.pending ?? -1);
      },
    });
    new Gauge({
      name: "bulkhead_outbox_oldest_pending_seconds",
      help: "Age of the oldest outbox message waiting to be sent",
      registers,
      async collect() {
        this.set((await currentBacklog())?.oldest ?? 0);
      },
    });
  }

  return {
    registry,
    response: async () => new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } }),
    observeRequest(calls: CallOutcome[], seconds: number) {
      for (const { procedure, code } of calls) {
        requests.inc({ procedure, code });
        latency.observe({ procedure, code }, seconds);
        if (procedure === "auth.login") logins.inc({ outcome: loginOutcome(code) });
      }
    },
  };
}

interface Backlog {
  pending: number;
  oldest: number;
}

/** The outbox backlog, or null when the database does not answer within a second. */
async function outboxBacklog(database: Database): Promise<Backlog | null> {
  try {
    const query = database.db.execute(
      sql`select pending::int as pending, oldest_pending_seconds as oldest from app.outbox_backlog()`,
    );
    const result = await within(query, 1000, () => new Error("no outbox backlog within 1 s"));
    return rowsOf<Backlog>(result)[0] ?? null;
  } catch {
    return null;
  }
}
