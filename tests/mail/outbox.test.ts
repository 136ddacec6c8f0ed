/**
 * The transactional outbox (issue 18): written in the transaction of its cause, delivered by the
 * dispatcher to a real SMTP server in-process, retried with backoff, dead after N attempts with
 * the reason, each message sent once by dispatchers racing for it, and tenant-scoped under RLS.
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outbox } from "../../db/schema.js";
import { withoutTenant, withTenant } from "../../db/tenant.js";
import { rowsOf } from "../../db/types.js";
import { backoffSeconds, type DispatchResult, dispatchOnce } from "../../server/mail/dispatcher.js";
import { enqueueMail, type Mail } from "../../server/mail/outbox.js";
import { smtpTransport } from "../../server/mail/transports.js";
import { createTwoTenants, type TenantHandle, type TestApp } from "../helpers/app.js";
import { testEngine } from "../helpers/engine.js";
import { startSmtpServer } from "../helpers/mail.js";

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

const mail = (to: string, subject = "Hello"): Mail => ({
  to,
  subject,
  text: `Text for ${to}`,
  html: `<p>HTML for ${to}</p>`,
  link: "https://app.test/x?token=secret",
});

const dispatch = (maxAttempts = 3) => smtp.deliver(t, maxAttempts);

const rowsOfTenant = (tenantId: string) => t.db.admin.select().from(outbox).where(eq(outbox.tenantId, tenantId));
const clear = (tenantId: string) => t.db.admin.delete(outbox).where(eq(outbox.tenantId, tenantId));

describe("the outbox", () => {
  it("sends what committed and nothing of what rolled back", async () => {
    await clear(a.tenantId);
    await clear(b.tenantId); // the verification mails of their registrations
    await expect(
      withTenant(t.db.database.db, { tenantId: a.tenantId, userId: null }, async (tx) => {
        await enqueueMail(tx, a.tenantId, mail("rolled@back.test"));
        throw new Error("the change failed");
      }),
    ).rejects.toThrow("the change failed");
    await withTenant(t.db.database.db, { tenantId: a.tenantId, userId: null }, (tx) =>
      enqueueMail(tx, a.tenantId, mail("committed@a.test", "Committed")),
    );
    expect(await rowsOfTenant(a.tenantId)).toHaveLength(1);
    const before = smtp.received.length;
    expect(await dispatch()).toEqual({ sent: 1, retried: 0, dead: 0 });
    const received = smtp.received.slice(before);
    expect(received.map((m) => m.to)).toEqual([["committed@a.test"]]);
    expect(received[0]?.text).toContain("Text for committed@a.test");

    // Once sent, the row keeps whom and what, not the bodies or the link.
    const [row] = await rowsOfTenant(a.tenantId);
    expect(row?.status).toBe("sent");
    expect(row?.payload).toEqual({ to: "committed@a.test", subject: "Committed" });
    expect(await dispatch()).toEqual({ sent: 0, retried: 0, dead: 0 });
  });

  it("retries a refused message with exponential backoff, then marks it dead and says why", async () => {
    await clear(a.tenantId);
    await withTenant(t.db.database.db, { tenantId: a.tenantId, userId: null }, (tx) =>
      enqueueMail(tx, a.tenantId, mail("flaky@a.test")),
    );
    smtp.failNext(10);
    try {
      expect(await dispatch(2)).toEqual({ sent: 0, retried: 1, dead: 0 });
      const [waiting] = await rowsOfTenant(a.tenantId);
      expect(waiting?.status).toBe("pending");
      expect(waiting?.attempts).toBe(1);
      expect(waiting?.lastError).toMatch(/mailbox unavailable/);
      const delay = ((waiting?.nextAttemptAt.getTime() ?? 0) - Date.now()) / 1000;
      expect(delay).toBeGreaterThan(backoffSeconds(1) - 2);
      expect(await dispatch(2)).toEqual({ sent: 0, retried: 0, dead: 0 }); // not due yet

      await t.db.admin.update(outbox).set({ nextAttemptAt: sql`now()` }).where(eq(outbox.tenantId, a.tenantId));
      expect(await dispatch(2)).toEqual({ sent: 0, retried: 0, dead: 1 });
      const [dead] = await rowsOfTenant(a.tenantId);
      expect(dead?.status).toBe("dead");
      expect(dead?.attempts).toBe(2);
      expect(dead?.lastError).toMatch(/mailbox unavailable/);
      expect(dead?.payload).toEqual({ to: "flaky@a.test", subject: "Hello" });
      expect(t.logger.entries.some((e) => e.message === "outbox message is dead")).toBe(true);
    } finally {
      smtp.failNext(0);
    }
    expect([1, 2, 3, 4, 20].map(backoffSeconds)).toEqual([5, 10, 20, 40, 3600]);
  });

  it("takes back a claim whose dispatcher died once its lease runs out; the dead claim settles nothing", async () => {
    await clear(b.tenantId);
    await withTenant(t.db.database.db, { tenantId: b.tenantId, userId: null }, (tx) =>
      enqueueMail(tx, b.tenantId, mail("orphan@b.test")),
    );
    const claim = await withoutTenant(t.db.database.db, async (tx) =>
      rowsOf<{ id: string; claim_id: string }>(await tx.execute(sql`select * from app.outbox_claim(10, 1)`)),
    );
    expect(claim).toHaveLength(1);
    expect(await dispatch()).toEqual({ sent: 0, retried: 0, dead: 0 }); // still claimed
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const before = smtp.received.length;
    expect(await dispatch()).toEqual({ sent: 1, retried: 0, dead: 0 });
    expect(smtp.received.length - before).toBe(1);
    const stale = await withoutTenant(t.db.database.db, async (tx) =>
      rowsOf<{ status: string | null }>(
        await tx.execute(
          sql`select app.outbox_settle(${b.tenantId}::uuid, ${claim[0]?.id}::uuid, ${claim[0]?.claim_id}::uuid, 'late', 5, 3) as status`,
        ),
      ),
    );
    expect(stale[0]?.status).toBeNull();
    expect((await rowsOfTenant(b.tenantId))[0]?.status).toBe("sent");
  });

  it("two dispatchers racing over 200 messages send each exactly once", async () => {
    await clear(a.tenantId);
    await clear(b.tenantId);
    for (const [who, offset] of [
      [a, 0],
      [b, 100],
    ] as const) {
      await withTenant(t.db.database.db, { tenantId: who.tenantId, userId: null }, async (tx) => {
        for (let i = 0; i < 100; i++) await enqueueMail(tx, who.tenantId, mail(`m${offset + i}@race.test`));
      });
    }
    const before = smtp.received.length;
    const drain = async () => {
      const total: DispatchResult = { sent: 0, retried: 0, dead: 0 };
      const transport = smtpTransport(smtp.url, "Bulkhead <no-reply@bulkhead.test>");
      for (let pass = 0; pass < 50; pass++) {
        const result = await dispatchOnce({
          db: t.db.database.db,
          transport,
          logger: t.logger,
          batch: 7,
          leaseSeconds: 60,
          maxAttempts: 3,
        });
        total.sent += result.sent;
        if (result.sent + result.retried + result.dead === 0) break;
      }
      transport.close();
      return total;
    };
    const [first, second] = await Promise.all([drain(), drain()]);
    expect((first?.sent ?? 0) + (second?.sent ?? 0)).toBe(200);
    const received = smtp.received.slice(before);
    expect(received).toHaveLength(200);
    expect(new Set(received.map((m) => m.messageId)).size).toBe(200);
    expect(new Set(received.flatMap((m) => m.to)).size).toBe(200);
  });

  it.skipIf(testEngine !== "postgres")(
    "a claim taken while another is uncommitted skips that one's rows (the UPDATE re-checks them)",
    async () => {
      await clear(a.tenantId);
      await clear(b.tenantId);
      await withTenant(t.db.database.db, { tenantId: a.tenantId, userId: null }, async (tx) => {
        for (let i = 0; i < 3; i++) await enqueueMail(tx, a.tenantId, mail(`held${i}@race.test`));
      });
      const claim = (tx: Parameters<Parameters<typeof withoutTenant>[1]>[0]) =>
        tx
          .execute(sql`select id from app.outbox_claim(10, 60)`)
          .then((r) => rowsOf<{ id: string }>(r).map((m) => m.id));
      // The first claim holds its transaction open; the second starts meanwhile, picks the same
      // candidates from its snapshot, and waits on their rows until the first commits.
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let claimed: () => void = () => undefined;
      const firstClaimed = new Promise<void>((resolve) => {
        claimed = resolve;
      });
      const first = withoutTenant(t.db.database.db, async (tx) => {
        const ids = await claim(tx);
        claimed();
        await held;
        return ids;
      });
      await firstClaimed;
      const second = withoutTenant(t.db.database.db, claim);
      await new Promise((resolve) => setTimeout(resolve, 300));
      release();
      const [ones, twos] = await Promise.all([first, second]);
      expect(ones).toHaveLength(3);
      expect(twos.filter((id) => ones.includes(id))).toEqual([]);
      await clear(a.tenantId);
    },
  );

  it("is a tenant table: the runtime role cannot read it, nor write another tenant's", async () => {
    const read = withTenant(t.db.database.db, { tenantId: a.tenantId, userId: a.userId }, (tx) =>
      tx.select().from(outbox).where(eq(outbox.tenantId, a.tenantId)),
    );
    await expect(read).rejects.toMatchObject({ cause: { code: "42501" } });
    const foreign = withTenant(t.db.database.db, { tenantId: a.tenantId, userId: a.userId }, (tx) =>
      enqueueMail(tx, b.tenantId, mail("forged@b.test")),
    );
    await expect(foreign).rejects.toMatchObject({ cause: { code: "42501" } });
  });
});
