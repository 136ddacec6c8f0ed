/**
 * The database goes away under load and comes back (PostgreSQL only): the proxy cuts every open
 * connection and refuses new ones, as when PostgreSQL stops, then listens again. Requests must
 * fail fast and honestly (503 with Retry-After, never 500, none over the bound), /readyz must say
 * so within a second, nothing acknowledged may be lost or half-written, no log line may carry SQL
 * or a parameter, and the server must recover by itself (`tests/helpers/outage.ts`).
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { testEngine } from "../helpers/engine.js";
import { connectTimeoutMs, expectHonestOutage, type Outage, openOutage, sleep, startLoad } from "../helpers/outage.js";

// Slack for this shared 2-core machine.
const slackMs = 1500;

describe.skipIf(testEngine !== "postgres" || Boolean(process.env.BULKHEAD_TEST_PGBOUNCER))(
  "the database stopping",
  () => {
    let outage: Outage;
    beforeAll(async () => {
      outage = await openOutage();
    });
    afterAll(() => outage?.close());

    it("a cut: fails fast with 503, answers /readyz within a second, loses nothing, and recovers alone", async () => {
      const load = startLoad(outage);
      await sleep(1500);
      const from = load.now();
      await outage.proxy.cut();
      await sleep(6000);
      const to = load.now();
      await outage.proxy.restore();
      await sleep(6000);
      await load.stop();
      // While the database is away, a request waits at most for a connection to be refused.
      await expectHonestOutage(outage, load, { from, to }, connectTimeoutMs + slackMs);
    }, 60_000);
  },
);
