/**
 * Nothing acknowledged is lost: a server killed with SIGKILL while it sends a committed message
 * (the SMTP server holds the message's DATA and never accepts it) sends that message exactly once
 * after a restart, when its claim's lease has run out. PostgreSQL: a kill -9 is what it survives.
 */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { SMTPServer } from "smtp-server";
import { describe, expect, it } from "vitest";
import { createBulkheadClient } from "../../client/src/index.js";
import { outbox } from "../../db/schema.js";
import { adminUrl, testEngine, urlFor } from "../helpers/engine.js";
import { startServer, testPort, waitUntilReady } from "../helpers/server.js";

const until = async (check: () => boolean, ms: number) => {
  for (let waited = 0; waited < ms && !check(); waited += 100) await new Promise((r) => setTimeout(r, 100));
  return check();
};

describe.runIf(testEngine === "postgres")("the outbox across a crash", () => {
  it("sends a message exactly once when the server dies in the middle of sending it", {
    timeout: 120_000,
  }, async () => {
    const name = `bulkhead_outbox_${process.pid}_${Date.now()}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    let holding = true;
    let started = 0;
    const accepted: string[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, _session, callback) {
        started++;
        let raw = "";
        stream.on("data", (chunk: Buffer) => {
          raw += chunk.toString("utf8");
        });
        stream.on("end", () => {
          if (holding) return; // never answers: the sender dies waiting
          accepted.push(raw);
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
    const smtpPort = (smtp.server.address() as { port: number }).port;
    const env = {
      DATABASE_URL: urlFor(name, "bulkhead_app"),
      DATABASE_MIGRATION_URL: urlFor(name),
      MIGRATE_ON_START: "true",
      DATABASE_PREPARE: "false",
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      OUTBOX_POLL_MS: "200",
      OUTBOX_LEASE_SECONDS: "5",
    };
    const owner = postgres(urlFor(name), { max: 1, onnotice: () => {} });
    try {
      const first = startServer(env, testPort());
      expect(await waitUntilReady(first)).toBe(true);
      const api = createBulkheadClient({ url: `${first.url}/trpc` });
      const slug = `crash-${Date.now().toString(36)}`;
      await api.auth.registerTenant.mutate({
        tenant: { name: "Crash", slug },
        owner: { email: "ops@crash.test", password: "correct horse battery staple", name: "Ops" },
      });
      expect(await api.auth.requestPasswordReset.mutate({ tenantSlug: slug, email: "ops@crash.test" })).toEqual({
        ok: true,
      });
      // Committed, claimed, and half sent: then the process dies without a word.
      expect(await until(() => started >= 1, 20_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 500)); // the reset is committed and claimed too
      first.child.kill("SIGKILL");
      await first.exited;

      holding = false;
      const second = startServer({ ...env, MIGRATE_ON_START: "false" }, testPort());
      expect(await waitUntilReady(second)).toBe(true);
      // Registration's verification mail and the reset mail: both claimed by the dead process,
      // the first of them half sent; each arrives once.
      expect(await until(() => accepted.length === 2, 30_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 2000)); // time for a second copy, were there one
      expect(accepted).toHaveLength(2);
      expect(accepted.filter((raw) => /^Subject: .*Reset[_ ]your[_ ]password/m.test(raw))).toHaveLength(1);
      expect(accepted.filter((raw) => /^Subject: .*Verify[_ ]your[_ ]email/m.test(raw))).toHaveLength(1);

      const rows = await drizzle(owner).select().from(outbox).where(eq(outbox.kind, "mail"));
      // The half-sent one took two attempts; the reset, one or two (claimed with it, or after).
      expect(rows.map((row) => row.status)).toEqual(["sent", "sent"]);
      expect(Math.max(...rows.map((row) => row.attempts))).toBe(2);
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    } finally {
      await owner.end();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});
