import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventSource } from "eventsource";
import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { createBulkheadClient } from "../client/src/index.js";
import { signedIn } from "./helpers/app.js";
import { adminUrl, testEngine, urlFor } from "./helpers/engine.js";
import { startServer, testPort, waitForOutput, waitUntilReady } from "./helpers/server.js";

const registration = (slug: string) => ({
  tenant: { name: "Node", slug },
  owner: { email: "ops@example.com", password: "correct horse battery staple", name: "Ops" },
});

/**
 * A POST the server has begun: its headers are sent with `Expect: 100-continue` and `accepted`
 * resolves when the server answers 100 Continue (it has read them and is handling the request);
 * the body waits for `send()`.
 */
function heldRequest(origin: string, path: string, input: unknown) {
  const body = JSON.stringify(input);
  const request = httpRequest(`${origin}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), expect: "100-continue" },
  });
  const response = new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
    request.once("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.once("end", () => resolve({ status: res.statusCode, body: text }));
    });
    request.once("error", reject);
  });
  const accepted = new Promise<void>((resolve, reject) => {
    request.once("continue", resolve);
    request.once("error", reject);
  });
  request.flushHeaders();
  return { accepted, response, send: () => request.end(body) };
}

/**
 * These start real server processes (PGlite's initdb on disk, migrations, argon2 at full cost),
 * twice: ~15 s alone on the 2-core CI machine, twice that while CI's 10,000-operation fuzzer
 * shares the cores — past the suite's 30 s default.
 */
const serverTestTimeoutMs = 90_000;

describe.runIf(testEngine === "pglite")("the Node server on PGlite", () => {
  it(
    "serves, keeps data in its data directory across restarts, and finishes in-flight requests on SIGTERM",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "bulkhead-node-"));
      try {
        const env = { PGLITE_DATA_DIR: join(dir, "pglite") };
        const first = startServer(env, testPort());
        expect(await waitUntilReady(first)).toBe(true);
        const api = createBulkheadClient({ url: `${first.url}/trpc` });
        expect(await api.health.query()).toEqual({ status: "ok", database: "pglite" });
        expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

        // A registration is in flight when SIGTERM arrives: the server has read its headers (it
        // answered 100 Continue) and its body is sent only once the server says it is stopping.
        // It completes, and the server exits only after it.
        const inFlight = heldRequest(first.url, "/trpc/auth.registerTenant", { json: registration("persisted") });
        await inFlight.accepted;
        first.child.kill("SIGTERM");
        await waitForOutput(first, "SIGTERM: stopping");
        expect(first.output()).toContain("SIGTERM: stopping");
        inFlight.send();
        const answer = await inFlight.response;
        expect(answer.status).toBe(200);
        expect(JSON.parse(answer.body).result.data.json.tenant.slug).toBe("persisted");
        expect(await first.exited).toBe(0);

        const second = startServer(env, testPort());
        expect(await waitUntilReady(second)).toBe(true);
        const again = createBulkheadClient({ url: `${second.url}/trpc` });
        const session = signedIn(
          await again.auth.login.mutate({
            tenantSlug: "persisted",
            email: "ops@example.com",
            password: "correct horse battery staple",
          }),
        );
        expect(session.tenant.slug).toBe("persisted");

        // A live stream never ends by itself: SIGTERM cuts it (its client would reconnect to
        // another server) instead of waiting for it until SHUTDOWN_TIMEOUT_MS forces exit 1.
        const watcher = createBulkheadClient({ url: `${second.url}/trpc`, session, EventSource });
        const states: string[] = [];
        let started: () => void = () => {};
        const streaming = new Promise<void>((resolve) => {
          started = resolve;
        });
        const stream = watcher.events.onChange.subscribe(
          {},
          {
            onStarted: () => started(),
            onConnectionStateChange: (state) => states.push(state.state),
            onError: () => states.push("error"),
          },
        );
        await streaming;
        const stopping = Date.now();
        second.child.kill("SIGTERM");
        expect(await second.exited).toBe(0);
        expect(Date.now() - stopping).toBeLessThan(5000);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(states).toContain("connecting"); // the client lost the stream and is reconnecting
        stream.unsubscribe();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    serverTestTimeoutMs,
  );

  it("in production refuses to start without a long enough JWT_SECRET", async () => {
    const server = startServer(
      { NODE_ENV: "production", PGLITE_DATA_DIR: "memory://", JWT_SECRET: "short" },
      testPort(),
    );
    expect(await server.exited).toBe(1);
    expect(server.output()).toContain("JWT_SECRET must be set to at least 32 bytes");
  });
});

describe.runIf(testEngine === "postgres")("the Node server on PostgreSQL", () => {
  it(
    "refuses an unmigrated database, and migrates on start when MIGRATE_ON_START=true",
    async () => {
      const name = `bulkhead_node_${process.pid}_${Date.now()}`;
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`create database ${name}`);
      try {
        const env = { DATABASE_URL: urlFor(name, "bulkhead_app"), DATABASE_PREPARE: "false" };
        const refused = startServer(env, testPort());
        expect(await refused.exited).toBe(1);
        expect(refused.output()).toContain("unapplied migration");

        const migrating = startServer(
          { ...env, MIGRATE_ON_START: "true", DATABASE_MIGRATION_URL: urlFor(name) },
          testPort(),
        );
        expect(await waitUntilReady(migrating)).toBe(true);
        const api = createBulkheadClient({ url: `${migrating.url}/trpc` });
        expect(await api.health.query()).toEqual({ status: "ok", database: "postgres" });
        expect((await api.auth.registerTenant.mutate(registration(`pg-${Date.now().toString(36)}`))).user.role).toBe(
          "owner",
        );
        migrating.child.kill("SIGTERM");
        expect(await migrating.exited).toBe(0);

        // The jobs run on their pool, never the requests': every cross-tenant job's statement
        // comes from a "bulkhead jobs" connection (db/open.ts; docs/scaling-out.md).
        const token = "scrape-token-0123456789abcdef";
        const server = startServer(
          { ...env, OUTBOX_POLL_MS: "100", PRUNE_INTERVAL_SECONDS: "1", METRICS_TOKEN: token },
          testPort(),
        );
        expect(await waitUntilReady(server)).toBe(true);
        const database = postgres(urlFor(name), { max: 2, onnotice: () => {} });
        try {
          // A table the test holds makes the jobs' statements on it wait where pg_stat_activity
          // shows them, with the pool they came from. The jobs' pool has two connections: the
          // outbox first (the dispatcher's claim, the metrics' backlog), then the pruner's table.
          const seen: { job: string; pool: string }[] = [];
          const saw = (job: string) => seen.some((s) => s.job === job);
          // The jobs' pool has two connections and three jobs: a job may find both held by the
          // others' waiting statements, so each phase is short and the rounds repeat until all
          // three were seen (a scrape only in the backlog's phase, so it cannot starve the claim).
          const phase = (table: string, job: string, scrape: boolean) =>
            database.begin(async (tx) => {
              await tx.unsafe(`lock table ${table} in access exclusive mode`);
              for (let i = 0; i < 30 && !saw(job); i++) {
                if (scrape) {
                  void fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } }).catch(
                    () => {},
                  );
                }
                seen.push(
                  ...(await database<{ job: string; pool: string }[]>`
                    select substring(query from 'app\.(outbox_claim|prune_expired|outbox_backlog)') as job, application_name as pool
                      from pg_stat_activity
                     where datname = ${name} and state = 'active' and query ~ 'app\.(outbox_claim|prune_expired|outbox_backlog)'`),
                );
                await new Promise((resolve) => setTimeout(resolve, 100));
              }
            });
          for (let round = 0; round < 10 && !["outbox_claim", "prune_expired", "outbox_backlog"].every(saw); round++) {
            await phase("outbox", "outbox_claim", false);
            await phase("refresh_tokens", "prune_expired", false);
            await phase("outbox", "outbox_backlog", true);
          }
          // Every job statement seen, waiting or running, came from the jobs' pool; all three were seen.
          expect([...new Set(seen.map((s) => s.job))].sort()).toEqual([
            "outbox_backlog",
            "outbox_claim",
            "prune_expired",
          ]);
          expect([...new Set(seen.map((s) => s.pool))]).toEqual(["bulkhead jobs"]);
        } finally {
          await database.end();
          server.child.kill("SIGTERM");
          await server.exited;
        }
      } finally {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        await admin.end();
      }
    },
    serverTestTimeoutMs,
  );
});
