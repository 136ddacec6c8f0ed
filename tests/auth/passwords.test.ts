/**
 * Password reset and change (issue 18), read through a real SMTP server: reset tokens work once,
 * expire, stay in their tenant, die with any password change, and never show up anywhere but the
 * mail; a reset ends every session, a change every session but the current one; reset requests
 * cannot tell a real account from an unknown one; new passwords follow NIST 800-63B.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, outbox } from "../../db/schema.js";
import { resetRequestFloorMs } from "../../server/auth/passwords.js";
import {
  CountingHasher,
  codeOf,
  createTestApp,
  password,
  signedIn,
  type TenantHandle,
  type TestApp,
} from "../helpers/app.js";
import { linkToken, startSmtpServer } from "../helpers/mail.js";

let t: TestApp;
const hasher = new CountingHasher();
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let a: TenantHandle;
let b: TenantHandle;
const newPassword = "a brand new passphrase here";

beforeAll(async () => {
  t = await createTestApp({ hasher, env: { APP_URL: "https://app.bulkhead.test", APP_NAME: "Acme Cloud" } });
  smtp = await startSmtpServer("Acme Cloud <no-reply@acme.test>");
  a = await t.registerTenant("Reset Alpha");
  b = await t.registerTenant("Reset Beta");
});
afterAll(async () => {
  await smtp.close();
  await t.close();
});

const deliver = () => smtp.deliver(t);

/** Asks for a reset of `who` and returns the token of the link mailed to them. */
async function resetToken(who: TenantHandle): Promise<string> {
  const before = smtp.received.length;
  await t.client().auth.requestPasswordReset.mutate({ tenantSlug: who.slug, email: who.session.user.email });
  await deliver();
  const mail = smtp.received
    .slice(before)
    .find((m) => m.to.includes(who.session.user.email) && /Reset your password/.test(m.subject));
  if (!mail) throw new Error("no reset mail arrived");
  return linkToken(mail);
}

describe("password reset", () => {
  it("mails a link built from APP_URL; the token sets a new password once, and a second use fails", async () => {
    const c = await t.registerTenant("Forgetful");
    const before = smtp.received.length;
    const token = await resetToken(c);
    const mail = smtp.received.slice(before).find((m) => /Reset your password/.test(m.subject));
    expect(mail?.subject).toBe("Reset your password — Acme Cloud");
    expect(mail?.text).toContain("https://app.bulkhead.test/reset-password?token=bhpr_");
    expect(mail?.raw).toContain("Content-Type: text/html");
    expect(mail?.messageId).toMatch(/@bulkhead\.outbox>$/);

    expect(await t.client().auth.resetPassword.mutate({ token, newPassword })).toEqual({ ok: true });
    const login = (pw: string) =>
      codeOf(t.client().auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password: pw }));
    expect(await login(newPassword)).toBeNull();
    expect(await login(password)).toBe("UNAUTHORIZED");
    expect(await codeOf(t.client().auth.resetPassword.mutate({ token, newPassword: "yet another passphrase" }))).toBe(
      "UNAUTHORIZED",
    );
    // The user is told, by mail, that the password changed.
    await deliver();
    expect(smtp.received.some((m) => m.to.includes(c.session.user.email) && /was changed/.test(m.subject))).toBe(true);
  });

  it("refuses an expired token", async () => {
    const c = await t.registerTenant("Slow reader");
    const token = await resetToken(c);
    t.clock.advance(31 * 60_000);
    try {
      expect(await codeOf(t.client().auth.resetPassword.mutate({ token, newPassword }))).toBe("UNAUTHORIZED");
    } finally {
      t.clock.advance(-31 * 60_000);
    }
  });

  it("refuses tenant A's token on a request naming tenant B", async () => {
    const token = await resetToken(a);
    const asB = t.client(null, { "x-tenant": b.slug });
    expect(await codeOf(asB.auth.resetPassword.mutate({ token, newPassword }))).toBe("UNAUTHORIZED");
    // A token re-labelled with B's tenant id finds nothing there either.
    const forged = token.replace(a.tenantId, b.tenantId);
    expect(await codeOf(t.client().auth.resetPassword.mutate({ token: forged, newPassword }))).toBe("UNAUTHORIZED");
    // Still good where it belongs.
    expect(await codeOf(t.client(null, { "x-tenant": a.slug }).auth.resetPassword.mutate({ token, newPassword }))).toBe(
      null,
    );
  });

  it("refuses a token issued before the password changed", async () => {
    const c = await t.registerTenant("Changed mind");
    const token = await resetToken(c);
    await c.client.auth.changePassword.mutate({ currentPassword: password, newPassword });
    expect(await codeOf(t.client().auth.resetPassword.mutate({ token, newPassword: "another new passphrase" }))).toBe(
      "UNAUTHORIZED",
    );
  });

  it("ends every session of the user: old access and refresh tokens fail on the next request", async () => {
    const c = await t.registerTenant("Compromised");
    const other = signedIn(
      await t.client().auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password }),
    );
    const token = await resetToken(c);
    await t.client().auth.resetPassword.mutate({ token, newPassword });
    for (const session of [c.session, other]) {
      expect(await codeOf(t.client({ accessToken: session.accessToken }).auth.me.query())).toBe("UNAUTHORIZED");
      expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: session.refreshToken as string }))).toBe(
        "UNAUTHORIZED",
      );
    }
  });

  it("answers a real account, an unknown email and an unknown tenant byte for byte alike, and no sooner than the floor", async () => {
    const ask = async (tenantSlug: string, email: string) => {
      const started = performance.now();
      const response = await t.app.request("http://bulkhead.test/trpc/auth.requestPasswordReset", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ json: { tenantSlug, email } }),
      });
      const body = await response.text();
      return { status: response.status, body, ms: performance.now() - started };
    };
    // Side by side: each waits out the floor on its own.
    const [real, unknownEmail, unknownTenant] = await Promise.all([
      ask(b.slug, b.session.user.email),
      ask(b.slug, "nobody@nowhere.test"),
      ask("no-such-tenant-here", b.session.user.email),
    ]);
    for (const other of [unknownEmail, unknownTenant]) {
      expect(other.status).toBe(real.status);
      expect(other.body).toBe(real.body);
    }
    expect(real.body).toBe('{"result":{"data":{"json":{"ok":true}}}}');
    for (const { ms } of [real, unknownEmail, unknownTenant])
      expect(ms).toBeGreaterThanOrEqual(resetRequestFloorMs - 5);
    // And no password hash was computed or verified for any of them.
    const work = hasher.hashes + hasher.verifications;
    await Promise.all([ask(b.slug, b.session.user.email), ask(b.slug, "nobody@nowhere.test")]);
    expect(hasher.hashes + hasher.verifications).toBe(work);
  });

  it("is throttled per account, whether or not it exists", async () => {
    const d = await t.registerTenant("Throttled resets");
    const throttled = await createTestApp({ db: t.db, env: { PASSWORD_RESET_MAX_PER_ACCOUNT: "2" } });
    const ask = (email: string) =>
      codeOf(throttled.client().auth.requestPasswordReset.mutate({ tenantSlug: d.slug, email }));
    // The two accounts side by side: each is counted on its own.
    await Promise.all(
      [d.session.user.email, "ghost@nowhere.test"].map(async (email) => {
        expect(await ask(email)).toBeNull();
        expect(await ask(email)).toBeNull();
        expect(await ask(email)).toBe("TOO_MANY_REQUESTS");
      }),
    );
  });

  it("never puts a reset token in a response body, a log line, the audit log or a settled outbox row", async () => {
    const c = await t.registerTenant("Careful");
    const token = await resetToken(c);
    await t.client().auth.resetPassword.mutate({ token, newPassword });
    await deliver();
    // Everything after bhev_/bhpr_<tenant>_: the 43 random characters (which may contain "_").
    const secret = token.split("_").slice(2).join("_");
    expect(secret).toHaveLength(43);
    expect(t.bodies.join("\n")).not.toContain(secret);
    expect(JSON.stringify(t.logger.entries)).not.toContain(secret);
    const events = await t.db.admin.select().from(auditEvents).where(eq(auditEvents.tenantId, c.tenantId));
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(["auth.password_reset_requested", "auth.password_reset"]),
    );
    expect(JSON.stringify(events)).not.toContain(secret);
    const rows = await t.db.admin.select().from(outbox).where(eq(outbox.tenantId, c.tenantId));
    expect(rows.every((row) => row.status === "sent")).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(secret);
  });
});

describe("password change", () => {
  it("needs the current password, ends every other session, keeps this one, and mails the user", async () => {
    const c = await t.registerTenant("Changer");
    const other = signedIn(
      await t.client().auth.login.mutate({ tenantSlug: c.slug, email: c.session.user.email, password }),
    );
    expect(
      await codeOf(c.client.auth.changePassword.mutate({ currentPassword: "not my password at all", newPassword })),
    ).toBe("BAD_REQUEST");
    const before = smtp.received.length;
    expect(await c.client.auth.changePassword.mutate({ currentPassword: password, newPassword })).toEqual({ ok: true });

    expect(await codeOf(c.client.auth.me.query())).toBeNull();
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: c.session.refreshToken }))).toBeNull();
    expect(await codeOf(t.client({ accessToken: other.accessToken }).auth.me.query())).toBe("UNAUTHORIZED");
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: other.refreshToken as string }))).toBe(
      "UNAUTHORIZED",
    );
    await deliver();
    expect(smtp.received.slice(before).some((m) => m.to.includes(c.session.user.email))).toBe(true);
    const [event] = await t.db.admin
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, c.tenantId), eq(auditEvents.action, "auth.password_changed")));
    expect(event?.actorId).toBe(c.userId);
  });

  it("is throttled like a login", async () => {
    const c = await t.registerTenant("Guesser");
    const wrong = () =>
      codeOf(c.client.auth.changePassword.mutate({ currentPassword: "a wrong guess again", newPassword }));
    for (let i = 0; i < 5; i++) expect(await wrong()).toBe("BAD_REQUEST");
    expect(await wrong()).toBe("TOO_MANY_REQUESTS");
  });
});

describe("password policy (NIST 800-63B)", () => {
  it("refuses the email, the workspace's name and common passwords, saying which rule failed", async () => {
    const c = await t.registerTenant("Zanzibar Trading");
    const refuse = async (candidate: string, rule: RegExp) => {
      const error = await c.client.auth.changePassword
        .mutate({ currentPassword: password, newPassword: candidate })
        .catch((e: unknown) => e as { message: string; data: { code: string } });
      expect(error).toMatchObject({ data: { code: "BAD_REQUEST" } });
      expect((error as { message: string }).message).toMatch(rule);
    };
    await refuse(c.session.user.email, /newPassword: must not contain your email address/);
    await refuse(`my ${c.session.user.email.split("@")[0]} secret!!`, /email address/);
    await refuse("zanzibar trading 2026", /workspace's name/);
    await refuse("1q2w3e4r5t6y", /most commonly used passwords/);
    await refuse("QWERTY123456", /most commonly used passwords/);
    await refuse("short", /at least 12 characters/);
  });

  it("applies at registration too", async () => {
    const code = await codeOf(
      t.client().auth.registerTenant.mutate({
        tenant: { name: "Policy Co", slug: `policy-${Date.now().toString(36)}` },
        owner: { email: "pat@policy.test", password: "qwerty123456", name: "Pat" },
      }),
    );
    expect(code).toBe("BAD_REQUEST");
  });
});
