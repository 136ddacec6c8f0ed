/**
 * A refresh in flight cannot outlive a revocation (issue 28, finding 1). An attacker rotates a
 * stolen refresh token back to back while its owner ends the session by each of the six paths;
 * once the revocation has answered, neither the attacker's last refresh token nor its last
 * access token may work. PGlite serialises transactions, so the race exists only on PostgreSQL
 * (and through PgBouncer): there each path runs 50 trials, here on PGlite a few.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passwordResets } from "../../db/schema.js";
import { makeOpaqueToken, sha256Hex } from "../../server/auth/tokens.js";
import {
  bearerSession,
  codeOf,
  createTestApp,
  password,
  sessionOf,
  type TenantHandle,
  type TestApp,
} from "../helpers/app.js";
import { testEngine } from "../helpers/engine.js";

const trials = testEngine === "postgres" ? 50 : 3;
const allowed = "https://app.bulkhead.test";
const cookieName = "__Secure-bulkhead_refresh";

let t: TestApp;

beforeAll(async () => {
  // 50 password changes by one member: more re-checks than a window allows (LOGIN_MAX_FAILURES).
  t = await createTestApp({ env: { CORS_ORIGINS: allowed, LOGIN_MAX_FAILURES: "1000" } });
});
afterAll(() => t.close());

/** A new session of `who`, as a thief would hold it. */
async function signIn(who: TenantHandle, secret = password) {
  return bearerSession(
    await t.client().auth.login.mutate({ tenantSlug: who.slug, email: who.session.user.email, password: secret }),
  );
}

/**
 * Rotates `stolen` back to back (at most 1,000 times) until told to stop or refused; returns the
 * last tokens it got. `started` resolves after the first rotation, so the revocation races one.
 */
function rotateBackToBack(stolen: string) {
  let refreshToken = stolen;
  let accessToken: string | null = null;
  let stop = false;
  let firstRotation: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    firstRotation = resolve;
  });
  const done = (async () => {
    for (let i = 0; i < 1_000 && !stop; i++) {
      try {
        const next = bearerSession(await t.client().auth.refresh.mutate({ refreshToken }));
        refreshToken = next.refreshToken;
        accessToken = next.accessToken;
      } catch {
        break;
      } finally {
        firstRotation();
      }
    }
  })();
  return {
    started,
    async end() {
      stop = true;
      await done;
      return { refreshToken, accessToken };
    },
  };
}

/** Whether any token the attacker holds still works once the revocation has answered. */
async function survives(held: { refreshToken: string; accessToken: string | null }): Promise<boolean> {
  const me = held.accessToken ? await codeOf(t.client({ accessToken: held.accessToken }).auth.me.query()) : "none";
  const refreshed = await codeOf(t.client().auth.refresh.mutate({ refreshToken: held.refreshToken }));
  return me === null || refreshed === null;
}

/** Runs `trials` races of an attacker against `revoke`, each on a fresh stolen session. */
async function race(setUp: () => Promise<{ stolen: string; revoke: () => Promise<unknown> }>) {
  let survivors = 0;
  for (let trial = 0; trial < trials; trial++) {
    const { stolen, revoke } = await setUp();
    const attacker = rotateBackToBack(stolen);
    await attacker.started;
    await revoke();
    if (await survives(await attacker.end())) survivors++;
  }
  return survivors;
}

describe("a refresh in flight against a revocation", () => {
  it("'sign out everywhere' leaves the attacker nothing", async () => {
    const victim = await t.registerTenant("Everywhere");
    const survivors = await race(async () => {
      const stolen = (await signIn(victim)).refreshToken;
      const mine = t.client(await signIn(victim));
      return { stolen, revoke: () => mine.auth.logout.mutate({ everywhere: true }) };
    });
    expect(survivors).toBe(0);
  });

  it("changePassword leaves the attacker nothing", async () => {
    const victim = await t.registerTenant("Changed");
    let current = password;
    let round = 0;
    const survivors = await race(async () => {
      const stolen = (await signIn(victim, current)).refreshToken;
      const mine = t.client(await signIn(victim, current));
      const next = `${password} round ${round++}`;
      const revoke = async () => {
        await mine.auth.changePassword.mutate({ currentPassword: current, newPassword: next });
        current = next;
      };
      return { stolen, revoke };
    });
    expect(survivors).toBe(0);
  });

  it("resetPassword leaves the attacker nothing", async () => {
    const victim = await t.registerTenant("Forgotten");
    let current = password;
    let round = 0;
    const survivors = await race(async () => {
      const stolen = (await signIn(victim, current)).refreshToken;
      // The link's token, as the mail carries it (the mail itself is tested in tests/auth).
      const token = makeOpaqueToken("pr", victim.tenantId);
      await t.db.admin.insert(passwordResets).values({
        tenantId: victim.tenantId,
        userId: victim.userId,
        tokenHash: await sha256Hex(token),
        expiresAt: new Date(Date.now() + 600_000),
      });
      const next = `${password} reset ${round++}`;
      const revoke = async () => {
        await t.client().auth.resetPassword.mutate({ token, newPassword: next });
        current = next;
      };
      return { stolen, revoke };
    });
    expect(survivors).toBe(0);
  });

  it("sessions.revoke leaves the attacker nothing", async () => {
    const victim = await t.registerTenant("Revoked");
    const survivors = await race(async () => {
      const stolenSession = await signIn(victim);
      const mine = t.client(await signIn(victim));
      const id = sessionOf({ ...victim, session: stolenSession });
      return { stolen: stolenSession.refreshToken, revoke: () => mine.auth.sessions.revoke.mutate({ id }) };
    });
    expect(survivors).toBe(0);
  });

  it("members.signOut leaves the attacker nothing", async () => {
    const owner = await t.registerTenant("Signed out");
    const member = await t.addMember(owner, "member");
    const admin = t.client(await signIn(owner));
    const survivors = await race(async () => ({
      stolen: (await signIn(member)).refreshToken,
      revoke: () => admin.members.signOut.mutate({ userId: member.userId }),
    }));
    expect(survivors).toBe(0);
  });

  it("a cookie-mode sign-out leaves another tab refreshing nothing", async () => {
    const victim = await t.registerTenant("Tabs");
    const headers = { "content-type": "application/json", origin: allowed, "x-bulkhead-session": "cookie" };
    const post = (path: string, extra: Record<string, string>) =>
      t.app.request(`https://api.bulkhead.test/trpc/${path}`, { method: "POST", headers: { ...headers, ...extra } });
    const cookieOf = (response: Response) =>
      response.headers
        .getSetCookie()
        .map((line) => /bulkhead_refresh=([^;]*)/.exec(line)?.[1])
        .find((value) => value);
    const accessOf = async (response: Response) =>
      ((await response.json()) as { result: { data: { json: { accessToken: string } } } }).result.data.json.accessToken;

    let survivors = 0;
    for (let trial = 0; trial < trials; trial++) {
      const signedIn = await t.app.request("https://api.bulkhead.test/trpc/auth.login", {
        method: "POST",
        headers,
        body: JSON.stringify({ json: { tenantSlug: victim.slug, email: victim.session.user.email, password } }),
      });
      // One cookie jar, shared by the tabs: each refresh replaces the cookie.
      let jar = cookieOf(signedIn) as string;
      let access = await accessOf(signedIn);
      let stop = false;
      let first: () => void = () => {};
      const started = new Promise<void>((resolve) => {
        first = resolve;
      });
      const otherTab = (async () => {
        for (let i = 0; i < 1_000 && !stop; i++) {
          const response = await post("auth.refresh", { cookie: `${cookieName}=${jar}` });
          first();
          if (response.status !== 200) break;
          jar = cookieOf(response) ?? jar;
          access = await accessOf(response);
        }
      })();
      await started;
      const out = await post("auth.logout", { authorization: `Bearer ${access}` });
      expect(out.status).toBe(200);
      stop = true;
      await otherTab;
      const refreshed = await post("auth.refresh", { cookie: `${cookieName}=${jar}` });
      if ((await codeOf(t.client({ accessToken: access }).auth.me.query())) === null || refreshed.status === 200) {
        survivors++;
      }
    }
    expect(survivors).toBe(0);
  });
});
