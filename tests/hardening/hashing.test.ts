/**
 * Issue 28, finding 6: successes cost argon2 work too. Batches of valid invitation acceptances
 * bought a hash each, a right password reset the re-check counter, and nothing capped how many
 * hashes the process ran at once. Now a request buys at most `hashesPerRequest`, sign-ups and
 * re-checks count successes, re-checks count per account (not per shared address), and the
 * process runs a bounded number of hashes at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashesPerRequest } from "../../server/app.js";
import { limitHashing } from "../../server/auth/hashing.js";
import type { PasswordHasher } from "../../server/deps.js";
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
let owner: TenantHandle;

beforeAll(async () => {
  hasher = new CountingHasher();
  t = await createTestApp({ hasher, peerAddress: "192.0.2.10", env: { SIGNUP_MAX_PER_ADDRESS: "1000" } });
  owner = await t.registerTenant("Hashing");
});
afterAll(() => t.close());

const invitations = (count: number, tag: string) =>
  Promise.all(
    Array.from({ length: count }, (_, i) =>
      owner.client.members.invite.mutate({ email: `${tag}-${i}@hashing.test`, role: "member" }),
    ),
  );

/** One HTTP request carrying one `auth.acceptInvite` per token, as tRPC batches them. */
const batchedAcceptances = (app: TestApp, tokens: string[]) =>
  batchedCalls(
    app,
    "auth.acceptInvite",
    tokens.map((token, i) => ({ token, name: `Joiner ${i}`, password: `${password} ${i}` })),
  );

describe("password hashing is bounded", () => {
  it(`buys at most ${hashesPerRequest} hashes with a batch of 20 valid acceptances; the rest get 429 and stay valid`, async () => {
    const invited = await invitations(20, "batch");
    const before = hasher.hashes;
    const { codes, retryAfter } = await batchedAcceptances(
      t,
      invited.map((i) => i.token),
    );
    expect(hasher.hashes - before).toBe(hashesPerRequest);
    expect(codes.filter((c) => c === null)).toHaveLength(hashesPerRequest);
    expect(codes.filter((c) => c === "TOO_MANY_REQUESTS")).toHaveLength(20 - hashesPerRequest);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // A refused acceptance changed nothing: its invitation still works.
    const refused = invited[codes.indexOf("TOO_MANY_REQUESTS")];
    expect(
      await codeOf(t.client().auth.acceptInvite.mutate({ token: refused?.token ?? "", name: "Later", password })),
    ).toBeNull();
  });

  it("counts successful acceptances against the address's sign-up limit", async () => {
    const strict = await createTestApp({
      db: t.db,
      hasher,
      peerAddress: "192.0.2.11",
      env: { SIGNUP_MAX_PER_ADDRESS: "3" },
    });
    const invited = await invitations(4, "window");
    const codes: (string | null)[] = [];
    for (const invitation of invited) {
      codes.push(
        await codeOf(strict.client().auth.acceptInvite.mutate({ token: invitation.token, name: "Joiner", password })),
      );
    }
    expect(codes).toEqual([null, null, null, "TOO_MANY_REQUESTS"]);
  });

  it("counts a member's password re-checks per account, successes included", async () => {
    const env = { LOGIN_MAX_FAILURES: "3", LOGIN_ADDRESS_MAX_FAILURES: "3" };
    const nat = await createTestApp({ db: t.db, hasher, peerAddress: "192.0.2.12", env });
    const member = await nat.registerTenant("Behind a NAT");
    const change = (currentPassword: string) =>
      codeOf(member.client.auth.changePassword.mutate({ currentPassword, newPassword: password }));
    // Others behind the same address use its failed-login limit up...
    const stranger = await t.registerTenant("Stranger");
    for (let i = 0; i < 4; i++) {
      await codeOf(
        nat.client().auth.login.mutate({
          tenantSlug: stranger.slug,
          email: stranger.session.user.email,
          password: "wrong password, surely",
        }),
      );
    }
    // ...and the member still re-checks their own password.
    expect(await change("wrong password, surely")).toBe("BAD_REQUEST");
    expect(await change(password)).toBeNull();
    // A right password gave nothing back: the third check is the last in the window.
    expect(await change("wrong password, surely")).toBe("BAD_REQUEST");
    expect(await change(password)).toBe("TOO_MANY_REQUESTS");
  });

  it("runs at most the configured number of hashes at once, in order, and turns a full queue away", async () => {
    let running = 0;
    let most = 0;
    const slow: PasswordHasher = {
      hash: async (value) => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        return value;
      },
      verify: async () => true,
    };
    const limited = limitHashing(slow, { concurrency: 2, maxWaiting: 5 });
    const finished: number[] = [];
    const calls = Array.from({ length: 8 }, (_, i) =>
      limited.hash(String(i)).then(
        () => finished.push(i),
        (error: Error) => error.name,
      ),
    );
    expect(limited.running).toBe(2);
    expect(limited.waiting).toBe(5);
    const outcomes = await Promise.all(calls);
    expect(most).toBe(2);
    expect(outcomes[7]).toBe("HashingBusy");
    expect(finished).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(limited.running).toBe(0);
  });

  it("turns a login away with 429 once 64 hashes wait, through the API", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held: PasswordHasher = {
      hash: async (value) => {
        await gate;
        return hasher.hash(value);
      },
      verify: async (stored, value) => {
        await gate;
        return hasher.verify(stored, value);
      },
    };
    const busy = await createTestApp({
      db: t.db,
      hasher: held,
      env: {
        PASSWORD_HASHING_CONCURRENCY: "1",
        // The login throttle reserves before hashing: let every one of these through it.
        LOGIN_MAX_FAILURES: "1000",
        LOGIN_ACCOUNT_MAX_FAILURES: "1000",
        LOGIN_ADDRESS_MAX_FAILURES: "1000",
      },
    });
    const login = () =>
      codeOf(busy.client().auth.login.mutate({ tenantSlug: owner.slug, email: owner.session.user.email, password }));
    // One runs and 64 wait; the next is turned away at once. Logins go one by one until one is
    // (each first reads the database, so one may still be on its way when the next starts).
    const pending: Promise<string | null>[] = [];
    let refusedAt = -1;
    for (let i = 0; i < 100 && refusedAt < 0; i++) {
      const call = login();
      const settled = await Promise.race([call, new Promise((resolve) => setTimeout(resolve, 100, "waiting"))]);
      if (settled === "TOO_MANY_REQUESTS") refusedAt = i;
      else pending.push(call);
    }
    expect(refusedAt).toBeGreaterThanOrEqual(65);
    release();
    // The one running and the 64 waiting sign in. A call still reading the database when its
    // 100 ms were up (a loaded machine) may reach a full queue later and be turned away too;
    // the exact bound is the limiter's own test above.
    const outcomes = await Promise.all(pending);
    expect(outcomes.filter((c) => c === null).length).toBeGreaterThanOrEqual(65);
    expect(outcomes.filter((c) => c !== null && c !== "TOO_MANY_REQUESTS")).toEqual([]);
  });
});
