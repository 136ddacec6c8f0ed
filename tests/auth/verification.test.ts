/**
 * Email verification (issue 18), read through a real SMTP server: registration and invitations
 * mail a link; its token verifies once, before it expires, in its tenant; resending is throttled;
 * a tenant that requires verified email lets an unverified member read and manage their account,
 * and refuses their changes with a clear FORBIDDEN until they verify.
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents } from "../../db/schema.js";
import { codeOf, createTestApp, type TenantHandle, type TestApp } from "../helpers/app.js";
import { linkToken, startSmtpServer } from "../helpers/mail.js";

let t: TestApp;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;

beforeAll(async () => {
  t = await createTestApp({ env: { APP_URL: "https://app.bulkhead.test", EMAIL_VERIFICATION_MAX_RESENDS: "2" } });
  smtp = await startSmtpServer();
});
afterAll(async () => {
  await smtp.close();
  await t.close();
});

/** Delivers the outbox and returns the token of the newest verification mail to `email`. */
async function verificationToken(email: string): Promise<string> {
  await smtp.deliver(t);
  const mail = [...smtp.received].reverse().find((m) => m.to.includes(email) && /Verify your email/.test(m.subject));
  if (!mail) throw new Error(`no verification mail to ${email}`);
  expect(mail.text).toContain("https://app.bulkhead.test/verify-email?token=bhev_");
  return linkToken(mail);
}

const verified = async (who: TenantHandle) => (await who.client.auth.me.query()).user.emailVerifiedAt;

describe("email verification", () => {
  it("registration mails a link whose token verifies the email once; audited, and never echoed", async () => {
    const c = await t.registerTenant("Verifying");
    expect(await verified(c)).toBeNull();
    const token = await verificationToken(c.session.user.email);
    expect(await t.client().auth.verifyEmail.mutate({ token })).toEqual({ ok: true });
    expect(await verified(c)).toBeInstanceOf(Date);
    expect(await codeOf(t.client().auth.verifyEmail.mutate({ token }))).toBe("UNAUTHORIZED");

    const events = await t.db.admin.select().from(auditEvents).where(eq(auditEvents.tenantId, c.tenantId));
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(["auth.verification_sent", "auth.email_verified"]),
    );
    // Everything after bhev_/bhpr_<tenant>_: the 43 random characters (which may contain "_").
    const secret = token.split("_").slice(2).join("_");
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(events)).not.toContain(secret);
    expect(t.bodies.join("\n")).not.toContain(secret);
    expect(JSON.stringify(t.logger.entries)).not.toContain(secret);
  });

  it("an accepted invitation mails the invited address", async () => {
    const c = await t.registerTenant("Inviting");
    const member = await t.addMember(c, "member", "newcomer@inviting.test");
    expect(await verified(member)).toBeNull();
    await t.client().auth.verifyEmail.mutate({ token: await verificationToken("newcomer@inviting.test") });
    expect(await verified(member)).toBeInstanceOf(Date);
  });

  it("refuses an expired token, and one used on a request naming another tenant", async () => {
    const c = await t.registerTenant("Late verifier");
    const d = await t.registerTenant("Other place");
    const token = await verificationToken(c.session.user.email);
    expect(await codeOf(t.client(null, { "x-tenant": d.slug }).auth.verifyEmail.mutate({ token }))).toBe(
      "UNAUTHORIZED",
    );
    t.clock.advance(49 * 3_600_000);
    try {
      expect(await codeOf(t.client().auth.verifyEmail.mutate({ token }))).toBe("UNAUTHORIZED");
    } finally {
      t.clock.advance(-49 * 3_600_000);
    }
    expect(await verified(c)).toBeNull();
  });

  it("resends a fresh link, throttled; an address already verified gets none", async () => {
    const c = await t.registerTenant("Resender");
    const first = await verificationToken(c.session.user.email);
    expect(await c.client.auth.resendVerification.mutate()).toEqual({ ok: true, alreadyVerified: false });
    const second = await verificationToken(c.session.user.email);
    expect(second).not.toBe(first);
    expect(await c.client.auth.resendVerification.mutate()).toEqual({ ok: true, alreadyVerified: false });
    expect(await codeOf(c.client.auth.resendVerification.mutate())).toBe("TOO_MANY_REQUESTS");
    await t.client().auth.verifyEmail.mutate({ token: second });
    expect(await c.client.auth.resendVerification.mutate()).toEqual({ ok: true, alreadyVerified: true });
  });
});

describe("requireVerifiedEmail", () => {
  it("makes unverified members read-only, with a clear message, until they verify", async () => {
    const c = await t.registerTenant("Strict shop");
    await t.client().auth.verifyEmail.mutate({ token: await verificationToken(c.session.user.email) });
    const member = await t.addMember(c, "member", "unverified@strict.test");
    expect(await codeOf(member.client.tenant.update.mutate({ requireVerifiedEmail: true }))).toBe("FORBIDDEN");
    expect(await c.client.tenant.update.mutate({ requireVerifiedEmail: true })).toMatchObject({
      requireVerifiedEmail: true,
    });

    const refused = await member.client.projects.create.mutate({ name: "Not yet" }).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      data: { code: "FORBIDDEN" },
      message: "Verify your email address to make changes in this workspace",
    });
    // Reading, and managing their own account, still work.
    expect((await member.client.projects.list.query({})).items).toEqual([]);
    expect(await member.client.auth.sessions.list.query()).toHaveLength(1);
    await member.client.auth.resendVerification.mutate();

    await t.client().auth.verifyEmail.mutate({ token: await verificationToken("unverified@strict.test") });
    expect((await member.client.projects.create.mutate({ name: "Now" })).name).toBe("Now");
    // The owner, verified, was never held back; turning it off frees everyone.
    expect(await c.client.tenant.update.mutate({ requireVerifiedEmail: false })).toMatchObject({
      requireVerifiedEmail: false,
    });
  });

  it("is off by default: unverified members write", async () => {
    const c = await t.registerTenant("Relaxed");
    expect((await c.client.tenant.get.query()).requireVerifiedEmail).toBe(false);
    expect((await c.client.projects.create.mutate({ name: "Fine" })).name).toBe("Fine");
  });
});
