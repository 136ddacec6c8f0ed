/**
 * Passkeys, driven by a software authenticator (tests/helpers/webauthn.ts) through the server's
 * real WebAuthn verification: registration bound to the member's session and to APP_URL's
 * origin, a passkey as the second factor of a login (its challenge), a passwordless sign-in
 * answered once, a signature counter that goes back refused and audited, removal, and the
 * workspace's policy counting a passkey as a factor.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, passkeys } from "../../db/schema.js";
import { codeOf, createTestApp, password, signedIn, type TenantHandle, type TestApp } from "../helpers/app.js";
import { testEngine } from "../helpers/engine.js";
import { enrollTotp } from "../helpers/mfa.js";
import { SoftAuthenticator } from "../helpers/webauthn.js";

const origin = "https://app.bulkhead.test";
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { APP_URL: origin, APP_NAME: "Acme Cloud" } });
});
afterAll(() => t.close());

/** Adds a passkey to `who`'s account with `authenticator`; returns its row as the list shows it. */
async function addPasskey(who: TenantHandle, authenticator: SoftAuthenticator, name = "Laptop") {
  const options = await who.client.auth.passkeys.registerOptions.mutate();
  return who.client.auth.passkeys.register.mutate({ response: authenticator.register(options), name });
}

const loginAnswer = async (who: TenantHandle) => {
  const answer = await t.client().auth.login.mutate({ tenantSlug: who.slug, email: who.session.user.email, password });
  if (!("mfaRequired" in answer)) throw new Error("expected a second-factor challenge");
  return answer;
};

const trail = async (tenantId: string, action: string) =>
  t.admin
    .select({ target: auditEvents.targetId })
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.action, action)));

describe("registering a passkey", () => {
  it("adds one from options bound to the session and APP_URL, lists it, and refuses a replay or a foreign one", async () => {
    const who = await t.registerTenant("Passkey Owner");
    const device = new SoftAuthenticator(origin);
    const options = await who.client.auth.passkeys.registerOptions.mutate();
    expect(options.rp).toEqual({ id: "app.bulkhead.test", name: "Acme Cloud" });
    expect(options.authenticatorSelection?.residentKey).toBe("required");
    const response = device.register(options);
    const added = await who.client.auth.passkeys.register.mutate({ response, name: "Laptop" });
    expect(added).toMatchObject({ name: "Laptop", transports: ["internal"] });
    expect((await who.client.auth.passkeys.list.query()).map((key) => key.id)).toEqual([added.id]);
    expect(await trail(who.tenantId, "auth.passkey_added")).toEqual([{ target: added.id }]);
    const [row] = await t.admin.select().from(passkeys).where(eq(passkeys.id, added.id));
    expect(row?.credentialId).toBe(response.id);
    // The same registration again: the credential is already there.
    expect(await codeOf(who.client.auth.passkeys.register.mutate({ response, name: "Again" }))).toBe("CONFLICT");
    // Options the server never made, another origin, another member's options: refused.
    const forged = device.register({ ...options, challenge: Buffer.from("made up").toString("base64url") });
    expect(await codeOf(who.client.auth.passkeys.register.mutate({ response: forged, name: "x" }))).toBe("BAD_REQUEST");
    const phishing = new SoftAuthenticator("https://app.bulkhead.test.evil.example");
    const elsewhere = phishing.register(await who.client.auth.passkeys.registerOptions.mutate());
    expect(await codeOf(who.client.auth.passkeys.register.mutate({ response: elsewhere, name: "x" }))).toBe(
      "BAD_REQUEST",
    );
    const member = await t.addMember(who, "member");
    const theirs = device.register(await member.client.auth.passkeys.registerOptions.mutate());
    expect(await codeOf(who.client.auth.passkeys.register.mutate({ response: theirs, name: "x" }))).toBe("BAD_REQUEST");
    expect(await who.client.auth.passkeys.list.query()).toHaveLength(1);
  });
});

describe("a passkey as the second factor", () => {
  it("is asked for at login, signs the login's challenge, and that challenge works once", async () => {
    const who = await t.registerTenant("Passkey Second");
    const device = new SoftAuthenticator(origin);
    await addPasskey(who, device);
    const answer = await loginAnswer(who);
    expect(answer.methods).toEqual(["passkey"]);
    expect(answer.passkeyOptions?.challenge).toBe(Buffer.from(answer.challenge).toString("base64url"));
    expect(answer.passkeyOptions?.allowCredentials?.map((c) => c.id)).toEqual([
      device.credentials[0]?.id.toString("base64url"),
    ]);

    const passkeyResponse = device.authenticate(answer.passkeyOptions ?? { challenge: "" });
    const session = signedIn(await t.client().auth.mfa.verify.mutate({ challenge: answer.challenge, passkeyResponse }));
    expect(session.user.id).toBe(who.userId);
    const again = device.authenticate(answer.passkeyOptions ?? { challenge: "" });
    expect(
      await codeOf(t.client().auth.mfa.verify.mutate({ challenge: answer.challenge, passkeyResponse: again })),
    ).toBe("UNAUTHORIZED");
    // A signature of another login's challenge does not answer this one.
    const first = await loginAnswer(who);
    const second = await loginAnswer(who);
    const signedOther = device.authenticate(second.passkeyOptions ?? { challenge: "" });
    expect(
      await codeOf(t.client().auth.mfa.verify.mutate({ challenge: first.challenge, passkeyResponse: signedOther })),
    ).toBe("UNAUTHORIZED");
  });

  it("refuses a signature whose counter went back (a cloned authenticator), and audits it", async () => {
    const who = await t.registerTenant("Passkey Clone");
    const device = new SoftAuthenticator(origin);
    const added = await addPasskey(who, device);
    const use = async (counter: number) => {
      const answer = await loginAnswer(who);
      const passkeyResponse = device.authenticate(answer.passkeyOptions ?? { challenge: "" }, { counter });
      return codeOf(t.client().auth.mfa.verify.mutate({ challenge: answer.challenge, passkeyResponse }));
    };
    expect(await use(5)).toBeNull();
    expect(await use(5)).toBe("UNAUTHORIZED");
    expect(await use(3)).toBe("UNAUTHORIZED");
    expect(await trail(who.tenantId, "auth.passkey_counter_regressed")).toEqual([
      { target: added.id },
      { target: added.id },
    ]);
    expect(await use(6)).toBeNull();
    const [row] = await t.admin.select({ counter: passkeys.counter }).from(passkeys).where(eq(passkeys.id, added.id));
    expect(row?.counter).toBe(6);
  });
});

describe("signing in with a passkey alone", () => {
  it("signs in to its workspace once per challenge, with user verification, and nowhere else", async () => {
    const who = await t.registerTenant("Passwordless");
    const other = await t.registerTenant("Passwordless Other");
    const device = new SoftAuthenticator(origin);
    await addPasskey(who, device);

    const options = await t.client().auth.passkeys.loginOptions.mutate({ tenantSlug: who.slug });
    expect(options.userVerification).toBe("required");
    expect(options.allowCredentials ?? []).toEqual([]);
    // Counter 0, as synced passkeys report: only the spent challenge stops a replay.
    const response = device.authenticate(options, { counter: 0 });
    const session = signedIn(await t.client().auth.passkeys.login.mutate({ response }));
    expect(session.user.id).toBe(who.userId);
    expect((await t.client(session).projects.list.query({})).items).toEqual([]);
    // The same answer again: the challenge was spent.
    expect(await codeOf(t.client().auth.passkeys.login.mutate({ response }))).toBe("UNAUTHORIZED");
    // Without user verification: refused.
    const unverified = device.authenticate(
      await t.client().auth.passkeys.loginOptions.mutate({ tenantSlug: who.slug }),
      {
        verified: false,
      },
    );
    expect(await codeOf(t.client().auth.passkeys.login.mutate({ response: unverified }))).toBe("UNAUTHORIZED");
    // Options for another workspace: this passkey is not one of its members'.
    const foreign = device.authenticate(await t.client().auth.passkeys.loginOptions.mutate({ tenantSlug: other.slug }));
    expect(await codeOf(t.client().auth.passkeys.login.mutate({ response: foreign }))).toBe("UNAUTHORIZED");
    // An unknown workspace answers options all the same; signing in then fails.
    const unknown = await t.client().auth.passkeys.loginOptions.mutate({ tenantSlug: "no-such-workspace" });
    const none = device.authenticate(unknown);
    expect(await codeOf(t.client().auth.passkeys.login.mutate({ response: none }))).toBe("UNAUTHORIZED");
  });
});

describe("removing passkeys, and the workspace's policy", () => {
  it("removes one's own passkey only, and counts a passkey as the factor a workspace requires", async () => {
    const owner = await t.registerTenant("Passkey Policy");
    const member = await t.addMember(owner, "member");
    const device = new SoftAuthenticator(origin);
    await enrollTotp(owner.client, t.clock);
    await owner.client.tenant.update.mutate({ requireMfa: true });
    expect(await codeOf(member.client.projects.list.query({}))).toBe("FORBIDDEN");
    // Held at enrollment, the member adds a passkey: that session proved it, and is let in.
    const added = await addPasskey(member, device, "Phone");
    expect((await member.client.projects.list.query({})).items).toEqual([]);
    expect((await member.client.auth.mfa.status.query()).passkeys).toBe(1);
    expect(await codeOf(owner.client.auth.passkeys.remove.mutate({ id: added.id }))).toBe("NOT_FOUND");
    // Their only factor, while the policy stands: kept.
    expect(await codeOf(member.client.auth.passkeys.remove.mutate({ id: added.id }))).toBe("FORBIDDEN");
    await owner.client.tenant.update.mutate({ requireMfa: false });
    expect(await member.client.auth.passkeys.remove.mutate({ id: added.id })).toEqual({ ok: true });
    expect(await member.client.auth.passkeys.list.query()).toEqual([]);
    expect(await trail(owner.tenantId, "auth.passkey_removed")).toEqual([{ target: added.id }]);
  });
});

describe.runIf(testEngine === "postgres")("races (PostgreSQL)", () => {
  it("gives one session for one passwordless answer sent 20 times at once", async () => {
    const who = await t.registerTenant("Passkey Race");
    const device = new SoftAuthenticator(origin);
    await addPasskey(who, device);
    const response = device.authenticate(await t.client().auth.passkeys.loginOptions.mutate({ tenantSlug: who.slug }));
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => codeOf(t.client().auth.passkeys.login.mutate({ response }))),
    );
    expect(answers.filter((answer) => answer === null)).toHaveLength(1);
    expect(answers.filter((answer) => answer === "UNAUTHORIZED")).toHaveLength(19);
  });

  it("lets one of two signatures with the same counter through when they race", async () => {
    const who = await t.registerTenant("Passkey Counter Race");
    const device = new SoftAuthenticator(origin);
    await addPasskey(who, device);
    // The logins one after another (parallel ones would meet the password throttle), the answers at once.
    const answers: { challenge: string; passkeyResponse: ReturnType<SoftAuthenticator["authenticate"]> }[] = [];
    for (let i = 0; i < 10; i++) {
      const answer = await loginAnswer(who);
      const passkeyResponse = device.authenticate(answer.passkeyOptions ?? { challenge: "" }, { counter: 7 });
      answers.push({ challenge: answer.challenge, passkeyResponse });
    }
    const results = await Promise.all(answers.map((input) => codeOf(t.client().auth.mfa.verify.mutate(input))));
    expect(results.filter((result) => result === null)).toHaveLength(1);
  });
});
