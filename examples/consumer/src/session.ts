/**
 * A session's life with @bulkhead/client: register -> login -> refresh -> invite -> accept -> logout.
 *
 *   npm run session -w @bulkhead/consumer                       # throwaway server
 *   npm run session -w @bulkhead/consumer -- http://host/trpc   # a running one
 */
import { createBulkheadClient, errorCode, type SessionTokens } from "@bulkhead/client";
import { startServer } from "./server.js";

const show = (label: string, value: unknown) => console.log(`${label.padEnd(22)} ${JSON.stringify(value)}`);
const short = (token: string) => `${token.slice(0, 16)}…`;
/** Bearer mode (the default) returns the refresh token in the body; cookie mode never does. */
const bearerToken = (session: { refreshToken?: string }) => {
  if (!session.refreshToken) throw new Error("expected a bearer-mode session");
  return session.refreshToken;
};

async function main() {
  const given = process.argv[2];
  const server = given ? null : await startServer();
  const url = given ?? server?.url ?? "";
  const slug = `acme-${Date.now().toString(36)}`;
  try {
    // 1. Register a workspace; the client adopts the returned session.
    let saved: SessionTokens | null = null;
    const owner = createBulkheadClient({ url, onSession: (s) => (saved = s) });
    const registered = await owner.auth.registerTenant.mutate({
      tenant: { name: "Acme", slug },
      owner: { email: "ada@acme.example", password: "correct horse battery staple", name: "Ada" },
    });
    show("registerTenant", { tenant: registered.tenant.slug, user: registered.user.email, role: registered.user.role });
    show("session saved", saved !== null);

    // 2. Log in from another device.
    const laptop = createBulkheadClient({ url });
    const login = await laptop.auth.login.mutate({
      tenantSlug: slug,
      email: "ADA@acme.example",
      password: "correct horse battery staple",
    });
    // With two-factor sign-in on, login answers a challenge for auth.mfa.verify instead.
    if ("mfaRequired" in login) throw new Error("this account has a second factor: answer login.challenge");
    show("login", { accessToken: short(login.accessToken), expires: login.accessTokenExpiresAt.toISOString() });

    // 3. Refresh: a new pair; the old refresh token is spent. Replayed at once (another tab of
    // the same browser), it answers with the same rotated token; replayed after the reuse
    // window (REFRESH_TOKEN_REUSE_SECONDS, 10 s by default), it is theft and revokes the family.
    const loginToken = bearerToken(login);
    const refreshed = await createBulkheadClient({ url }).auth.refresh.mutate({ refreshToken: loginToken });
    show("refresh", {
      refreshToken: short(bearerToken(refreshed)),
      rotated: refreshed.refreshToken !== loginToken,
    });
    const tab = await createBulkheadClient({ url }).auth.refresh.mutate({ refreshToken: loginToken });
    show("replay at once (tab)", { sameRotatedToken: tab.refreshToken === refreshed.refreshToken });
    console.log("… waiting 10.5 s, out of the reuse window");
    await new Promise((resolve) => setTimeout(resolve, 10_500));
    const replay = await createBulkheadClient({ url })
      .auth.refresh.mutate({ refreshToken: loginToken })
      .catch((e: unknown) => errorCode(e));
    show("replay old token", replay);
    const afterReplay = await createBulkheadClient({ url })
      .auth.refresh.mutate({ refreshToken: bearerToken(refreshed) })
      .catch((e: unknown) => errorCode(e));
    show("new token after replay", afterReplay);

    // 4. Invite a colleague (admins only); the token is shown once and stored hashed.
    const invite = await owner.members.invite.mutate({ email: "grace@acme.example", role: "member" });
    show("invite", { token: short(invite.token), expiresAt: invite.expiresAt.toISOString() });

    // 5. The colleague accepts and is signed in as a member of Acme.
    const grace = createBulkheadClient({ url });
    const accepted = await grace.auth.acceptInvite.mutate({
      token: invite.token,
      name: "Grace",
      password: "another long passphrase",
    });
    show("acceptInvite", { user: accepted.user.email, role: accepted.user.role, tenant: accepted.tenant.slug });
    const again = await createBulkheadClient({ url })
      .auth.acceptInvite.mutate({ token: invite.token, name: "Mallory", password: "another long passphrase" })
      .catch((e: unknown) => errorCode(e));
    show("accept same invite", again);

    const members = await owner.members.list.query({});
    show(
      "members.list",
      members.items.map((m) => `${m.name} (${m.role})`),
    );
    show(
      "member tries invite",
      await grace.members.invite
        .mutate({ email: "x@acme.example", role: "member" })
        .catch((e: unknown) => errorCode(e)),
    );

    // 6. Log out: the session ends at once, its unexpired access token included; others go on.
    await grace.auth.logout.mutate({ refreshToken: accepted.refreshToken });
    show(
      "token after logout",
      await createBulkheadClient({ url, session: accepted })
        .auth.me.query()
        .then(
          () => "still works",
          (e: unknown) => errorCode(e),
        ),
    );
    show("owner still signed in", (await owner.auth.me.query()).user.email);
  } finally {
    server?.child.kill("SIGTERM");
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
