/**
 * Two-factor sign-in: TOTP enrollment with the key stored encrypted, login answering a challenge,
 * codes accepted within one step and each step once, recovery codes once (audited and mailed),
 * challenges single use and bound to their account and tenant, failed codes throttled per
 * challenge and per account (30 parallel guesses on PostgreSQL), a password reset that does not
 * bypass the factor, an admin's reset, and the workspace's policy held in the member path.
 * Codes are computed here from the secret, at the test clock's time.
 */
import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, outbox, refreshTokens, totpFactors } from "../../db/schema.js";
import { rowsOf } from "../../db/types.js";
import { mfaRequiredMessage } from "../../server/errors.js";
import {
  bearerSession,
  codeOf,
  createTestApp,
  password,
  signedIn,
  type TenantHandle,
  type TestApp,
} from "../helpers/app.js";
import { testEngine } from "../helpers/engine.js";
import { codeFor, enrollTotp, startOfStep } from "../helpers/mfa.js";

let t: TestApp;
const keyOne = Buffer.alloc(32, 11).toString("base64");
const keyTwo = Buffer.alloc(32, 12).toString("base64");

beforeAll(async () => {
  t = await createTestApp({
    env: {
      LOGIN_ADDRESS_MAX_FAILURES: "100000",
      LOGIN_ACCOUNT_MAX_FAILURES: "40",
      ENCRYPTION_KEY: keyOne,
      ENCRYPTION_KEY_ID: "e1",
    },
  });
});
afterAll(() => t.close());

const login = (who: TenantHandle, pw = password) =>
  t.client().auth.login.mutate({ tenantSlug: who.slug, email: who.session.user.email, password: pw });

/** Logs in and returns the challenge (the account must have a factor). */
async function challengeOf(who: TenantHandle): Promise<string> {
  const answer = await login(who);
  if (!("mfaRequired" in answer)) throw new Error("expected a second-factor challenge");
  return answer.challenge;
}

const verify = (input: { challenge: string; code?: string; recoveryCode?: string }) =>
  t.client().auth.mfa.verify.mutate(input);

/** The message of a failed call. */
async function messageOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).message;
  }
  return "no error";
}

async function withTotp(name: string) {
  const who = await t.registerTenant(name);
  const factor = await enrollTotp(who.client, t.clock);
  return { who, ...factor };
}

describe("TOTP enrollment", () => {
  it("gives a secret and an otpauth URI, stores the key encrypted, and turns on only with a right code", async () => {
    const who = await t.registerTenant("Enroll");
    const { secret, uri } = await who.client.auth.mfa.totp.enroll.mutate();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(uri).toMatch(/^otpauth:\/\/totp\//);
    expect(uri).toContain(`secret=${secret}`);
    expect(uri).toContain("period=30");

    // No plaintext in the database: not the base32 secret, nor its bytes in hex or base64.
    const key = Buffer.from(decodeBase32IgnorePadding(secret));
    const [row] = await t.admin.select().from(totpFactors).where(eq(totpFactors.userId, who.userId));
    expect(row?.secretEncrypted).toMatch(/^v1\.e1\./);
    const dump = rowsOf<{ d: string }>(
      await t.admin.execute(sql`select string_agg(to_jsonb(f)::text, '') as d from totp_factors f`),
    )[0]?.d;
    for (const form of [secret, key.toString("hex"), key.toString("base64").replace(/=+$/, "")]) {
      expect(dump).not.toContain(form);
    }
    expect(await who.client.auth.mfa.status.query()).toEqual({
      totp: false,
      passkeys: 0,
      recoveryCodesLeft: 0,
      required: false,
    });

    startOfStep(t.clock);
    expect(await codeOf(who.client.auth.mfa.totp.confirm.mutate({ code: codeFor(secret, t.clock.now(), 5) }))).toBe(
      "BAD_REQUEST",
    );
    // A login still gives a session: the factor is not on yet.
    expect("mfaRequired" in (await login(who))).toBe(false);

    const { recoveryCodes } = await who.client.auth.mfa.totp.confirm.mutate({ code: codeFor(secret, t.clock.now()) });
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    expect(await who.client.auth.mfa.status.query()).toEqual({
      totp: true,
      passkeys: 0,
      recoveryCodesLeft: 10,
      required: false,
    });
    // Once on, a second enrollment is refused instead of replacing the key.
    expect(await codeOf(who.client.auth.mfa.totp.enroll.mutate())).toBe("CONFLICT");
    const trail = await t.admin
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, who.tenantId), eq(auditEvents.action, "auth.mfa_enabled")));
    expect(trail).toHaveLength(1);
  });
});

describe("signing in with a second factor", () => {
  it("answers login with a challenge, not a session, and verify with a current code issues one", async () => {
    const { who, secret } = await withTotp("Challenge");
    const answer = await login(who);
    expect(answer).toEqual({
      mfaRequired: true,
      challenge: expect.stringMatching(/^bhmc_/),
      methods: expect.any(Array),
    });
    expect(JSON.stringify(answer)).not.toMatch(/accessToken|refreshToken|eyJ/);
    if (!("mfaRequired" in answer)) throw new Error("unreachable");
    expect(answer.methods).toEqual(["totp", "recovery_code"]);

    const session = bearerSession(await verify({ challenge: answer.challenge, code: codeFor(secret, t.clock.now()) }));
    expect(session.user.id).toBe(who.userId);
    expect((await t.client(session).auth.me.query()).user.id).toBe(who.userId);
    // The session remembers it proved a factor, across a refresh.
    const refreshed = bearerSession(await t.client().auth.refresh.mutate({ refreshToken: session.refreshToken }));
    const rows = await t.admin
      .select({ at: refreshTokens.secondFactorAt })
      .from(refreshTokens)
      .where(eq(refreshTokens.userId, who.userId));
    expect(rows.filter((row) => row.at !== null).length).toBeGreaterThanOrEqual(2);
    expect(refreshed.user.id).toBe(who.userId);
  });

  it("accepts a code of the step before or after now, refuses one two steps away, and each step once", async () => {
    const { who, secret } = await withTotp("Window");
    startOfStep(t.clock);
    const now = () => t.clock.now();
    const refusal = "The code or the challenge is not valid";
    expect(await messageOf(verify({ challenge: await challengeOf(who), code: codeFor(secret, now(), -2) }))).toBe(
      refusal,
    );
    expect(await messageOf(verify({ challenge: await challengeOf(who), code: codeFor(secret, now(), 2) }))).toBe(
      refusal,
    );
    signedIn(await verify({ challenge: await challengeOf(who), code: codeFor(secret, now(), -1) }));
    // The step just accepted, again: refused, though the code is within the window.
    expect(await messageOf(verify({ challenge: await challengeOf(who), code: codeFor(secret, now(), -1) }))).toBe(
      refusal,
    );
    signedIn(await verify({ challenge: await challengeOf(who), code: codeFor(secret, now()) }));
    expect(await codeOf(verify({ challenge: await challengeOf(who), code: codeFor(secret, now()) }))).toBe(
      "UNAUTHORIZED",
    );
    signedIn(await verify({ challenge: await challengeOf(who), code: codeFor(secret, now(), 1) }));
    // Once a later step was accepted, an earlier one is refused too.
    expect(await codeOf(verify({ challenge: await challengeOf(who), code: codeFor(secret, now()) }))).toBe(
      "UNAUTHORIZED",
    );
    t.clock.advance(60_000);
    signedIn(await verify({ challenge: await challengeOf(who), code: codeFor(secret, now()) }));
  });

  it("spends a challenge once, and refuses one that expired, one of another account or another tenant", async () => {
    const { who, secret } = await withTotp("Bound");
    const other = await withTotp("Bound Other");
    const member = await t.addMember(who, "member");
    const memberFactor = await enrollTotp(member.client, t.clock);
    startOfStep(t.clock);

    const challenge = await challengeOf(who);
    signedIn(await verify({ challenge, code: codeFor(secret, t.clock.now()) }));
    t.clock.advance(30_000);
    expect(await codeOf(verify({ challenge, code: codeFor(secret, t.clock.now()) }))).toBe("UNAUTHORIZED");

    // Another account's code on this account's challenge (same tenant): refused.
    const mine = await challengeOf(who);
    expect(await codeOf(verify({ challenge: mine, code: codeFor(memberFactor.secret, t.clock.now()) }))).toBe(
      "UNAUTHORIZED",
    );
    // The challenge with another tenant's id in it is no challenge there.
    const foreign = mine.replace(who.tenantId, other.who.tenantId);
    expect(await codeOf(verify({ challenge: foreign, code: codeFor(other.secret, t.clock.now()) }))).toBe(
      "UNAUTHORIZED",
    );
    expect(await codeOf(verify({ challenge: "bhmc_not-a-challenge", code: "123456" }))).toBe("UNAUTHORIZED");
    // A made-up challenge of the tenant, while a real one is pending there: no stand-in for it.
    const pending = await withTotp("Bound Pending");
    await challengeOf(pending.who);
    const madeUp = `bhmc_${pending.who.tenantId}_${"A".repeat(43)}`;
    expect(await codeOf(verify({ challenge: madeUp, code: codeFor(pending.secret, t.clock.now()) }))).toBe(
      "UNAUTHORIZED",
    );
    // Past MFA_CHALLENGE_TTL_SECONDS (300): refused with a right code.
    const late = await challengeOf(who);
    t.clock.advance(301_000);
    expect(await codeOf(verify({ challenge: late, code: codeFor(secret, t.clock.now()) }))).toBe("UNAUTHORIZED");
    // Neither code nor recovery code, or both: BAD_REQUEST before anything is looked up.
    expect(await codeOf(verify({ challenge: mine }))).toBe("BAD_REQUEST");
    expect(await codeOf(verify({ challenge: mine, code: "123456", recoveryCode: "AAAA-BBBB-CCCC" }))).toBe(
      "BAD_REQUEST",
    );
  });

  it("takes each recovery code once, audits its use and mails the member", async () => {
    const { who, recoveryCodes } = await withTotp("Recovery");
    const [first, second] = recoveryCodes as [string, string];
    const session = signedIn(await verify({ challenge: await challengeOf(who), recoveryCode: first.toLowerCase() }));
    expect(session.user.id).toBe(who.userId);
    expect(await codeOf(verify({ challenge: await challengeOf(who), recoveryCode: first }))).toBe("UNAUTHORIZED");
    // Typed without dashes, it is the same code.
    signedIn(await verify({ challenge: await challengeOf(who), recoveryCode: second.replaceAll("-", " ") }));
    const trail = await t.admin
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, who.tenantId), eq(auditEvents.action, "auth.recovery_code_used")));
    expect(trail).toHaveLength(2);
    const mails = await t.admin
      .select({ payload: outbox.payload })
      .from(outbox)
      .where(eq(outbox.tenantId, who.tenantId));
    const told = mails.filter((m) => (m.payload as { subject: string }).subject.startsWith("A recovery code was used"));
    expect(told).toHaveLength(2);
    expect((told[1]?.payload as { text: string } | undefined)?.text).toContain("8 of your recovery codes are left");
    expect(JSON.stringify(mails)).not.toContain(first);
    expect(await who.client.auth.mfa.status.query()).toMatchObject({ recoveryCodesLeft: 8 });
  });

  it("throttles wrong codes per challenge, and per account across challenges", async () => {
    const { who, secret } = await withTotp("Throttled");
    const challenge = await challengeOf(who);
    const wrong = String((Number(codeFor(secret, t.clock.now())) + 1) % 1_000_000).padStart(6, "0");
    for (let i = 0; i < t.config.login.maxFailures; i++) {
      expect(await codeOf(verify({ challenge, code: wrong }))).toBe("UNAUTHORIZED");
    }
    // The right code now gets the same refusal as a wrong one would: the challenge is used up.
    expect(await codeOf(verify({ challenge, code: codeFor(secret, t.clock.now()) }))).toBe("TOO_MANY_REQUESTS");
    // A new challenge (the password again) gets its own tries, and a right code works.
    signedIn(await verify({ challenge: await challengeOf(who), code: codeFor(secret, t.clock.now()) }));

    // Across challenges, the account's limit (LOGIN_ACCOUNT_MAX_FAILURES, 40 here) holds: a
    // password alone does not buy unlimited guesses.
    const refusals: (string | null)[] = [];
    for (let round = 0; round < 9; round++) {
      const next = await challengeOf(who);
      for (let i = 0; i < t.config.login.maxFailures; i++)
        refusals.push(await codeOf(verify({ challenge: next, code: wrong })));
    }
    expect(refusals.filter((code) => code === "UNAUTHORIZED").length).toBeLessThanOrEqual(40);
    expect(refusals.at(-1)).toBe("TOO_MANY_REQUESTS");
  });

  it("is not bypassed by a password reset: the next sign-in still asks for the factor", async () => {
    const { who } = await withTotp("Reset");
    await t.client().auth.requestPasswordReset.mutate({ tenantSlug: who.slug, email: who.session.user.email });
    const mails = await t.admin
      .select({ payload: outbox.payload })
      .from(outbox)
      .where(eq(outbox.tenantId, who.tenantId));
    const reset = mails.map((m) => m.payload as { subject: string; text: string }).find((m) => /Reset/.test(m.subject));
    const token = /token=([^\s&]+)/.exec(reset?.text ?? "")?.[1];
    expect(token).toBeDefined();
    const newPassword = "a whole new passphrase";
    await t.client().auth.resetPassword.mutate({ token: decodeURIComponent(token ?? ""), newPassword });
    const answer = await login(who, newPassword);
    expect("mfaRequired" in answer).toBe(true);
  });

  it("turns TOTP off with the password and a current code, and then login gives a session again", async () => {
    const { who, secret } = await withTotp("Disable");
    startOfStep(t.clock);
    const code = codeFor(secret, t.clock.now());
    expect(await codeOf(who.client.auth.mfa.totp.disable.mutate({ password: "not my password", code }))).toBe(
      "BAD_REQUEST",
    );
    expect(
      await codeOf(who.client.auth.mfa.totp.disable.mutate({ password, code: codeFor(secret, t.clock.now(), 3) })),
    ).toBe("BAD_REQUEST");
    expect(await who.client.auth.mfa.totp.disable.mutate({ password, code })).toEqual({ ok: true });
    expect(await who.client.auth.mfa.status.query()).toEqual({
      totp: false,
      passkeys: 0,
      recoveryCodesLeft: 0,
      required: false,
    });
    expect("mfaRequired" in (await login(who))).toBe(false);
  });
});

describe("ENCRYPTION_KEY rotation", () => {
  it("verifies a key stored under the previous ENCRYPTION_KEY and writes it back under the new one", async () => {
    const { who, secret } = await withTotp("Rotation");
    const rotated = await createTestApp({
      db: t.db,
      env: { ENCRYPTION_KEY: keyTwo, ENCRYPTION_KEY_ID: "e2", ENCRYPTION_PREVIOUS_KEYS: `e1:${keyOne}` },
    });
    try {
      const stored = async () =>
        (await t.admin.select().from(totpFactors).where(eq(totpFactors.userId, who.userId)))[0]?.secretEncrypted;
      expect(await stored()).toMatch(/^v1\.e1\./);
      startOfStep(t.clock);
      rotated.clock.offsetMs = t.clock.offsetMs;
      const answer = await rotated
        .client()
        .auth.login.mutate({ tenantSlug: who.slug, email: who.session.user.email, password });
      if (!("mfaRequired" in answer)) throw new Error("expected a challenge");
      signedIn(
        await rotated
          .client()
          .auth.mfa.verify.mutate({ challenge: answer.challenge, code: codeFor(secret, t.clock.now()) }),
      );
      expect(await stored()).toMatch(/^v1\.e2\./);
      // The old server, without the new key, can no longer read it: the rotation really happened.
      t.clock.advance(30_000);
      expect(await codeOf(verify({ challenge: await challengeOf(who), code: codeFor(secret, t.clock.now()) }))).toBe(
        "INTERNAL_SERVER_ERROR",
      );
    } finally {
      await rotated.close();
    }
  });
});

describe("an admin's reset", () => {
  it("removes a member's factors, audited and mailed; never one's own, and an owner's only by an owner", async () => {
    const owner = await t.registerTenant("Lost Phone");
    const member = await t.addMember(owner, "member");
    const admin = await t.addMember(owner, "admin");
    await enrollTotp(member.client, t.clock);
    await enrollTotp(owner.client, t.clock);
    expect("mfaRequired" in (await login(member))).toBe(true);

    expect(await codeOf(admin.client.members.resetMfa.mutate({ userId: owner.userId }))).toBe("FORBIDDEN");
    expect(await codeOf(owner.client.members.resetMfa.mutate({ userId: owner.userId }))).toBe("FORBIDDEN");
    expect(await codeOf(member.client.members.resetMfa.mutate({ userId: admin.userId }))).toBe("FORBIDDEN");
    expect(await admin.client.members.resetMfa.mutate({ userId: member.userId })).toEqual({ ok: true });
    expect("mfaRequired" in (await login(member))).toBe(false);
    expect("mfaRequired" in (await login(owner))).toBe(true);

    const trail = await t.admin
      .select({ action: auditEvents.action, actor: auditEvents.actorId, target: auditEvents.targetId })
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, owner.tenantId), eq(auditEvents.action, "member.mfa_reset")));
    expect(trail).toEqual([{ action: "member.mfa_reset", actor: admin.userId, target: member.userId }]);
    const mails = await t.admin
      .select({ payload: outbox.payload })
      .from(outbox)
      .where(eq(outbox.tenantId, owner.tenantId));
    const told = mails.map((m) => m.payload as { to: string; subject: string });
    expect(told.filter((m) => m.subject.startsWith("Your two-factor sign-in was reset"))).toEqual([
      expect.objectContaining({ to: member.session.user.email }),
    ]);
  });
});

describe("the workspace's policy", () => {
  it("is the owner's, turned on only from a session that proved the owner's factor", async () => {
    const owner = await t.registerTenant("Policy Owner");
    const admin = await t.addMember(owner, "admin");
    expect(await codeOf(owner.client.tenant.update.mutate({ requireMfa: true }))).toBe("PRECONDITION_FAILED");
    await enrollTotp(admin.client, t.clock);
    expect(await codeOf(admin.client.tenant.update.mutate({ requireMfa: true }))).toBe("FORBIDDEN");
    await enrollTotp(owner.client, t.clock);
    expect((await owner.client.tenant.update.mutate({ requireMfa: true })).requireMfa).toBe(true);
    expect((await owner.client.tenant.get.query()).requireMfa).toBe(true);
  });

  it("holds a member without a factor at enrollment, in every procedure, reads included, until they set one up", async () => {
    const owner = await t.registerTenant("Policy Held");
    await owner.client.projects.create.mutate({ name: "Secret plans" });
    const member = await t.addMember(owner, "member");
    await enrollTotp(owner.client, t.clock);
    await owner.client.tenant.update.mutate({ requireMfa: true });

    for (const call of [
      () => member.client.projects.list.query({}),
      () => member.client.projects.create.mutate({ name: "nope" }),
      () => member.client.members.list.query({}),
      () => member.client.audit.list.query({}),
      () => member.client.auth.sessions.list.query(),
    ]) {
      expect(await messageOf(call())).toBe(mfaRequiredMessage);
    }
    expect(await codeOf(member.client.projects.list.query({}))).toBe("FORBIDDEN");
    // What enrolling needs still answers.
    expect((await member.client.auth.me.query()).tenant.requireMfa).toBe(true);
    expect((await member.client.auth.mfa.status.query()).required).toBe(true);
    const { secret } = await member.client.auth.mfa.totp.enroll.mutate();
    startOfStep(t.clock);
    await member.client.auth.mfa.totp.confirm.mutate({ code: codeFor(secret, t.clock.now()) });
    // The session that confirmed it proved it: the member is in.
    expect((await member.client.projects.list.query({})).items.map((p) => p.name)).toEqual(["Secret plans"]);
    // And it cannot be turned off while the policy stands.
    t.clock.advance(30_000);
    expect(
      await codeOf(member.client.auth.mfa.totp.disable.mutate({ password, code: codeFor(secret, t.clock.now()) })),
    ).toBe("FORBIDDEN");
  });

  it("makes a session from before the policy sign in again with the factor, at its next request and refresh", async () => {
    const owner = await t.registerTenant("Policy Before");
    const member = await t.addMember(owner, "member");
    // A second session, from before the member set up their factor.
    const laptop = bearerSession(await login(member));
    const { secret } = await enrollTotp(member.client, t.clock);
    await enrollTotp(owner.client, t.clock);
    // Before the policy, the old session works.
    expect((await t.client(laptop).projects.list.query({})).items).toEqual([]);
    await owner.client.tenant.update.mutate({ requireMfa: true });

    expect(await messageOf(t.client(laptop).projects.list.query({}))).toBe(
      "This workspace requires two-factor sign-in: sign in again with your second factor",
    );
    expect(await codeOf(t.client().auth.refresh.mutate({ refreshToken: laptop.refreshToken }))).toBe("UNAUTHORIZED");
    // The session that enrolled proved the factor; so does a new sign-in with it.
    expect((await member.client.projects.list.query({})).items).toEqual([]);
    const again = signedIn(
      await verify({ challenge: await challengeOf(member), code: codeFor(secret, t.clock.now()) }),
    );
    expect((await t.client(again).projects.list.query({})).items).toEqual([]);
  });
});

describe.runIf(testEngine === "postgres")("races (PostgreSQL)", () => {
  it("checks at most the limit of 30 parallel wrong codes on one challenge", async () => {
    const { who, secret } = await withTotp("Race Codes");
    const challenge = await challengeOf(who);
    const right = codeFor(secret, t.clock.now());
    const wrong = (i: number) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, "0");
    const codes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => codeOf(verify({ challenge, code: wrong(i) }))),
    );
    const checked = codes.filter((code) => code === "UNAUTHORIZED").length;
    expect(checked).toBeLessThanOrEqual(t.config.login.maxFailures);
    expect(codes.filter((code) => code === "TOO_MANY_REQUESTS").length).toBe(30 - checked);
  });

  it("gives one session for one code raced on 30 challenges, and one for one recovery code", async () => {
    const { who, secret } = await withTotp("Race Once");
    // One after another: 30 parallel logins would meet the password throttle first.
    const challengesOf = async (of: TenantHandle) => {
      const made: string[] = [];
      for (let i = 0; i < 30; i++) made.push(await challengeOf(of));
      return made;
    };
    const challenges = await challengesOf(who);
    const code = codeFor(secret, t.clock.now());
    const answers = await Promise.all(challenges.map((challenge) => codeOf(verify({ challenge, code }))));
    expect(answers.filter((answer) => answer === null)).toHaveLength(1);
    expect(answers.filter((answer) => answer !== null && answer !== "UNAUTHORIZED")).toEqual([]);

    const second = await withTotp("Race Recovery");
    const recoveryCodes = second.recoveryCodes;
    const more = await challengesOf(second.who);
    const recovery = recoveryCodes[0] as string;
    const used = await Promise.all(more.map((challenge) => codeOf(verify({ challenge, recoveryCode: recovery }))));
    expect(used.filter((answer) => answer === null)).toHaveLength(1);
  });
});
