/**
 * A network partition under load (PostgreSQL only): the proxy keeps every connection open and
 * lets nothing pass either way, new ones included, then lets everything through again. Without a
 * bound on a statement's answer, every request in flight waited for the thaw (issue 28, finding
 * 4: 8 s in the review). Now a statement unanswered for its statement_timeout and a margin ends
 * its connection (never reused), and the request answers 503 with Retry-After in time; the rest
 * is what every outage must leave true (`tests/helpers/outage.ts`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { responseTimeoutFor } from "../../db/postgres.js";
import { defaultStatementTimeoutMs } from "../../db/tenant.js";
import { testEngine } from "../helpers/engine.js";
import { connectTimeoutMs, expectHonestOutage, type Outage, openOutage, sleep, startLoad } from "../helpers/outage.js";

// As the server configures its pool (server/database-config.ts).
const responseTimeoutMs = responseTimeoutFor(defaultStatementTimeoutMs);
// Slack for this shared 2-core machine.
const slackMs = 1500;

describe.skipIf(testEngine !== "postgres" || Boolean(process.env.BULKHEAD_TEST_PGBOUNCER))(
  "a network partition",
  () => {
    let outage: Outage;
    beforeAll(async () => {
      outage = await openOutage({ responseTimeoutMs });
    });
    afterAll(() => outage?.close());

    it("a partition: a statement left unanswered ends its connection, and the request answers 503 in time", async () => {
      const load = startLoad(outage);
      await sleep(1500);
      const from = load.now();
      const openAtFreeze = outage.proxy.open;
      outage.proxy.freeze();
      // Twice the response bound: without it, every request in flight waits for the thaw.
      await sleep(2 * responseTimeoutMs);
      const closedWhileFrozen = outage.proxy.closedWhileFrozen;
      const to = load.now();
      outage.proxy.thaw();
      await sleep(6000);
      await load.stop();
      // A request waits at most for its statement's answer, then for a new connection to fail.
      await expectHonestOutage(outage, load, { from, to }, responseTimeoutMs + connectTimeoutMs + slackMs);
      // The client gave up on the connections the partition held instead of keeping them.
      expect(openAtFreeze).toBeGreaterThan(0);
      expect(closedWhileFrozen).toBeGreaterThanOrEqual(openAtFreeze);
    }, 90_000);
  },
);
