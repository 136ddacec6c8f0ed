/**
 * Two dispatchers in two processes (PostgreSQL, and a Citus cluster under `npm run test:citus`)
 * drain one outbox of 200 messages from two tenants: each message reaches the SMTP server once.
 * The claim's UPDATE re-checks each row as it takes it (db/sql/functions/outbox_claim.sql): the
 * later of two claims waits for the earlier's commit and skips what it took.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outbox } from "../../db/schema.js";
import { withTenant } from "../../db/tenant.js";
import { enqueueMail } from "../../server/mail/outbox.js";
import { createTwoTenants, type TenantHandle, type TestApp } from "../helpers/app.js";
import { testEngine } from "../helpers/engine.js";
import { startSmtpServer } from "../helpers/mail.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe.runIf(testEngine === "postgres")("two dispatcher processes", () => {
  let t: TestApp;
  let a: TenantHandle;
  let b: TenantHandle;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  beforeAll(async () => {
    ({ t, a, b } = await createTwoTenants());
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await smtp.close();
    await t.close();
  });

  const dispatcher = () =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "tests/helpers/dispatch-child.ts", t.db.url ?? "", smtp.url],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.once("exit", (code) =>
        code === 0
          ? resolve((JSON.parse(output) as { sent: number }).sent)
          : reject(new Error(`dispatcher exited ${code}`)),
      );
    });

  it("send each of 200 messages exactly once", async () => {
    for (const who of [a, b]) await t.db.admin.delete(outbox).where(eq(outbox.tenantId, who.tenantId));
    for (const [who, offset] of [
      [a, 0],
      [b, 100],
    ] as const) {
      await withTenant(t.db.database.db, { tenantId: who.tenantId, userId: null }, async (tx) => {
        for (let i = 0; i < 100; i++) {
          await enqueueMail(tx, who.tenantId, {
            to: `p${offset + i}@processes.test`,
            subject: "Hi",
            text: "x",
            html: "<p>x</p>",
          });
        }
      });
    }
    const before = smtp.received.length;
    const [first, second] = await Promise.all([dispatcher(), dispatcher()]);
    expect(first + second).toBe(200);
    const received = smtp.received.slice(before).filter((m) => m.to.some((to) => to.endsWith("@processes.test")));
    expect(received).toHaveLength(200);
    expect(new Set(received.flatMap((m) => m.to)).size).toBe(200);
  }, 120_000);
});
