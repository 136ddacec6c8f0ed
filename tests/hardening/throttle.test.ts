/**
 * Findings 2 and 7: the throttle was read, the password verified, and the failure recorded, with
 * nothing atomic between, so parallel guesses all got verified; and five failures from anywhere
 * locked the account for everyone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashesPerRequest } from "../../server/app.js";
import {
  batchedCalls,
  CountingHasher,
  codeOf,
  createTestApp,
  password,
  type TenantHandle,
  type TestApp,
} from "../helpers/app.js";

let hasher: CountingHasher;
let t: TestApp;
let attacker: TestApp;
let a: TenantHandle;

beforeAll(async () => {
  hasher = new CountingHasher();
  t = await createTestApp({ hasher });
  attacker = await createTestApp({ db: t.db, hasher, peerAddress: "203.0.113.66" });
  a = await t.registerTenant("Target");
});
afterAll(() => t.close());

const guess = (app: TestApp, who: TenantHandle, pass = "wrong password, surely") =>
  codeOf(app.client().auth.login.mutate({ tenantSlug: who.slug, email: who.session.user.email, password: pass }));

/** One HTTP request carrying `count` login calls, as tRPC batches them. */
const batchedLogins = (app: TestApp, who: TenantHandle, count: number) =>
  batchedCalls(
    app,
    "auth.login",
    Array.from({ length: count }, (_, i) => ({
      tenantSlug: who.slug,
      email: who.session.user.email,
      password: `guess number ${i} here`,
    })),
  );

describe("the login throttle", () => {
  it("verifies at most the limit of 30 parallel wrong passwords; the rest get 429 with Retry-After", async () => {
    const victim = await t.registerTenant("Parallel");
    const before = hasher.verifications;
    const codes = await Promise.all(Array.from({ length: 30 }, () => guess(attacker, victim)));
    expect(hasher.verifications - before).toBe(t.config.login.maxFailures);
    expect(codes.filter((c) => c === "UNAUTHORIZED")).toHaveLength(t.config.login.maxFailures);
    expect(codes.filter((c) => c === "TOO_MANY_REQUESTS")).toHaveLength(30 - t.config.login.maxFailures);
  });

  it("verifies at most the limit of one batch of 20 logins", async () => {
    const victim = await t.registerTenant("Batched");
    const before = hasher.verifications;
    const result = await batchedLogins(attacker, victim, 20);
    // A batch buys at most `hashesPerRequest` hashes, under the throttle's limit either way.
    const verified = Math.min(hashesPerRequest, t.config.login.maxFailures);
    expect(hasher.verifications - before).toBe(verified);
    expect(result.codes.filter((c) => c === "UNAUTHORIZED")).toHaveLength(verified);
    expect(result.codes.filter((c) => c === "TOO_MANY_REQUESTS")).toHaveLength(20 - verified);
    expect(Number(result.retryAfter)).toBeGreaterThan(0);
  });

  it("a burst of 100 guesses ending with the right password does not get it through", async () => {
    const victim = await t.registerTenant("Burst");
    const codes = await Promise.all(
      Array.from({ length: 100 }, (_, i) => guess(attacker, victim, i === 99 ? password : "wrong password, surely")),
    );
    expect(codes[99]).toBe("TOO_MANY_REQUESTS");
    expect(codes.filter((c) => c === null)).toHaveLength(0);
  });

  it("lets the victim in from a fresh address while an attacker hammers from another", async () => {
    const victim = await t.registerTenant("Victim");
    const codes = await Promise.all(Array.from({ length: 40 }, () => guess(attacker, victim)));
    expect(codes).toContain("TOO_MANY_REQUESTS");
    const home = await createTestApp({ db: t.db, hasher, peerAddress: "198.51.100.23" });
    expect(await guess(home, victim, password)).toBeNull();
  });

  it("caps guessing from many addresses per account, loosely", async () => {
    const victim = await t.registerTenant("Distributed");
    const strict = await createTestApp({ db: t.db, hasher, env: { LOGIN_ACCOUNT_MAX_FAILURES: "8" } });
    const from = (i: number) =>
      createTestApp({ db: t.db, hasher, peerAddress: `192.0.2.${i}`, env: { LOGIN_ACCOUNT_MAX_FAILURES: "8" } });
    const codes: (string | null)[] = [];
    for (let i = 1; i <= 5; i++) {
      const app = await from(i);
      codes.push(await guess(app, victim), await guess(app, victim));
    }
    expect(codes.slice(0, 8)).toEqual(Array(8).fill("UNAUTHORIZED"));
    expect(codes.slice(8)).toEqual(["TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS"]);
    expect(await guess(strict, victim, password)).toBe("TOO_MANY_REQUESTS");
  });

  it("a success gives its attempt back: signing in many times is never throttled", async () => {
    const user = await t.registerTenant("Frequent");
    const home = await createTestApp({ db: t.db, hasher, peerAddress: "198.51.100.77" });
    for (let i = 0; i < 12; i++) expect(await guess(home, user, password)).toBeNull();
  });
});

describe("sign-up throttles", () => {
  it("accepts at most the limit of 60 parallel registrations from one address", async () => {
    const signups = await createTestApp({ db: t.db, hasher, peerAddress: "203.0.113.90" });
    const stamp = Date.now().toString(36);
    const before = hasher.hashes;
    const codes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        codeOf(
          signups.client().auth.registerTenant.mutate({
            tenant: { name: "Flood", slug: `flood-${stamp}-${i}` },
            owner: { email: `o${i}@flood.test`, password, name: "Flood" },
          }),
        ),
      ),
    );
    const limit = t.config.signup.maxPerAddress;
    expect(codes.filter((c) => c === null)).toHaveLength(limit);
    expect(codes.filter((c) => c === "TOO_MANY_REQUESTS")).toHaveLength(60 - limit);
    expect(hasher.hashes - before).toBe(limit);
  });

  it("hashes at most the limit of 30 parallel invitation acceptances from one address", async () => {
    const prober = await createTestApp({ db: t.db, hasher, peerAddress: "203.0.113.91" });
    const before = hasher.hashes;
    const codes = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        codeOf(
          prober.client().auth.acceptInvite.mutate({
            token: `bhinv_${a.tenantId}_${"x".repeat(42)}${i % 10}`,
            name: "Prober",
            password,
          }),
        ),
      ),
    );
    const limit = t.config.signup.maxPerAddress;
    expect(hasher.hashes - before).toBe(limit);
    expect(codes.filter((c) => c === "UNAUTHORIZED")).toHaveLength(limit);
    expect(codes.filter((c) => c === "TOO_MANY_REQUESTS")).toHaveLength(30 - limit);
  });
});
