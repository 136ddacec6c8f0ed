/** The shell: who is signed in decides between the public screens and the workspace. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useSyncExternalStore } from "react";
import { Account, DeletionBanner, ForgotPassword, ResetPassword, VerifyBanner, VerifyEmail } from "./account";
import { api, isUnauthorized, type Me, sessionState } from "./api";
import { ApiKeys } from "./api-keys";
import { AuditLog } from "./audit";
import { AcceptInvitation, CreateWorkspace, SignIn } from "./auth";
import { Members } from "./members";
import { ProjectBoard, Projects } from "./projects";
import { Link, navigate, useLocation } from "./router";
import { TwoFactorRequired } from "./two-factor";
import { Brand, Button, ErrorMessage } from "./ui";
import { Webhooks } from "./webhooks";

const publicPaths = new Set(["/signin", "/signup", "/invite", "/forgot-password", "/reset-password", "/verify-email"]);
/** Pages a link in a mail opens: shown whether or not someone is signed in. */
const linkPaths = new Set(["/invite", "/reset-password", "/verify-email"]);

export function App() {
  const { path } = useLocation();
  const queries = useQueryClient();
  // On a reload the first call finds no access token; the client gets one from the cookie.
  const me = useQuery({ queryKey: ["me"], queryFn: () => api.auth.me.query(), retry: false, staleTime: 60_000 });
  const session = useSyncExternalStore(sessionState.subscribe, sessionState.get);

  // Signed out in this tab or another: drop every cached answer of that session, and ask again.
  useEffect(() => {
    if (session === false) {
      queries.removeQueries({ predicate: (query) => query.queryKey[0] !== "me" });
      void queries.resetQueries({ queryKey: ["me"] });
    }
  }, [session, queries]);

  // A failed `me` keeps its last data in TanStack Query: a failure means no one is signed in.
  const user = me.isError ? undefined : me.data;
  const signedOut = me.isError && isUnauthorized(me.error);
  useEffect(() => {
    if (signedOut && !publicPaths.has(path)) navigate("/signin", { replace: true });
    if (user && (publicPaths.has(path) || path === "/") && !linkPaths.has(path))
      navigate("/projects", { replace: true });
  }, [signedOut, user, path]);

  if (path === "/invite" && !user) return <AcceptInvitation />;
  if (path === "/reset-password") return <ResetPassword />;
  if (path === "/verify-email") return <VerifyEmail />;
  if (me.isPending) return <p className="splash">Loading…</p>;
  if (!user) {
    if (me.error && !signedOut) {
      return (
        <main className="auth">
          <div className="auth-panel">
            <ErrorMessage error={me.error} />
            <Button onClick={() => me.refetch()}>Try again</Button>
          </div>
        </main>
      );
    }
    if (path === "/signup") return <CreateWorkspace />;
    return path === "/forgot-password" ? <ForgotPassword /> : <SignIn />;
  }
  return <Workspace me={user} path={path} />;
}

function Workspace({ me, path }: { me: Me; path: string }) {
  const queries = useQueryClient();
  const isAdmin = me.user.role !== "member";
  const signOut = useMutation({
    mutationFn: () => api.auth.logout.mutate(),
    onSettled: () => {
      queries.clear();
      navigate("/signin", { replace: true });
    },
  });
  // A workspace that requires two-factor sign-in holds a member without it at setting it up.
  const mfa = useQuery({
    queryKey: ["mfa"],
    queryFn: () => api.auth.mfa.status.query(),
    enabled: me.tenant.requireMfa,
  });
  const held = me.tenant.requireMfa && mfa.data !== undefined && !mfa.data.totp && mfa.data.passkeys === 0;
  const board = /^\/projects\/([^/]+)$/.exec(path);
  const nav = [
    { to: "/projects", label: "Projects" },
    { to: "/members", label: "Members" },
    ...(isAdmin
      ? [
          { to: "/audit", label: "Audit log" },
          { to: "/webhooks", label: "Webhooks" },
          { to: "/api-keys", label: "API keys" },
        ]
      : []),
  ];
  return (
    <div className="shell">
      <header className="topbar">
        <Brand>
          <span data-testid="workspace-name">{me.tenant.name}</span>
        </Brand>
        <nav aria-label="Main">
          {nav.map((item) => (
            <Link key={item.to} to={item.to} aria-current={path.startsWith(item.to) ? "page" : undefined}>
              {item.label}
            </Link>
          ))}
        </nav>
        <div className="who">
          <Link to="/account" className="muted" data-testid="signed-in-as" title="Your account">
            {me.user.name}
          </Link>
          <Button variant="quiet" busy={signOut.isPending} onClick={() => signOut.mutate()}>
            Sign out
          </Button>
        </div>
      </header>
      <VerifyBanner me={me} />
      <DeletionBanner me={me} />
      <main className="content">
        {held ? (
          <TwoFactorRequired me={me} />
        ) : board?.[1] ? (
          <ProjectBoard id={decodeURIComponent(board[1])} />
        ) : path === "/members" ? (
          <Members me={me} />
        ) : path === "/account" ? (
          <Account me={me} />
        ) : path === "/audit" && isAdmin ? (
          <AuditLog />
        ) : path === "/webhooks" && isAdmin ? (
          <Webhooks />
        ) : path === "/api-keys" && isAdmin ? (
          <ApiKeys />
        ) : (
          <Projects />
        )}
      </main>
    </div>
  );
}
