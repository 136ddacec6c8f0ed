/** Passwords: forgot, reset from the mailed link, and change while signed in. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { api, apiUrl, type Me } from "./api";
import { AuthFrame } from "./auth";
import { Link, useLocation } from "./router";
import { Passkeys, TwoFactor } from "./two-factor";
import { Button, Card, ErrorMessage, Field, Form, formatDate, NewPasswordField, text } from "./ui";

export function ForgotPassword() {
  const { query } = useLocation();
  const request = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.requestPasswordReset.mutate({ tenantSlug: text(form, "tenant"), email: text(form, "email") }),
  });
  return (
    <AuthFrame title="Forgot your password?" lead="We will mail you a link to choose a new one.">
      {request.isSuccess ? (
        <p className="notice" role="status">
          If that workspace has an account for this email, a link is on its way. It works once, for 30 minutes.
        </p>
      ) : (
        <Form onSubmit={(form) => request.mutate(form)}>
          <Field
            label="Workspace"
            name="tenant"
            required
            defaultValue={query.get("workspace") ?? ""}
            placeholder="acme"
          />
          <Field label="Email" name="email" type="email" required autoComplete="email" />
          <ErrorMessage error={request.error} />
          <Button type="submit" busy={request.isPending}>
            Send the link
          </Button>
        </Form>
      )}
      <p className="switch">
        <Link to="/signin">Back to sign in</Link>
      </p>
    </AuthFrame>
  );
}

export function ResetPassword() {
  const { query } = useLocation();
  const token = query.get("token") ?? "";
  const reset = useMutation({
    mutationFn: (form: FormData) => api.auth.resetPassword.mutate({ token, newPassword: text(form, "password") }),
  });
  return (
    <AuthFrame title="Choose a new password" lead="Every session of your account ends when you do.">
      {reset.isSuccess ? (
        <p className="notice" role="status">
          Your password is changed. <Link to="/signin">Sign in</Link> with it.
        </p>
      ) : token ? (
        <Form onSubmit={(form) => reset.mutate(form)}>
          <NewPasswordField />
          <ErrorMessage
            error={reset.error}
            messages={{ UNAUTHORIZED: "This link has expired or was already used. Ask for a new one." }}
          />
          <Button type="submit" busy={reset.isPending}>
            Set the new password
          </Button>
        </Form>
      ) : (
        <p className="error">This link has no reset token in it. Ask for a new one.</p>
      )}
    </AuthFrame>
  );
}

/** A browser's User-Agent, as a person names it. */
function deviceName(userAgent: string | null): string {
  if (!userAgent) return "Unknown device";
  const browser = /Edg\//.test(userAgent)
    ? "Edge"
    : /Firefox\//.test(userAgent)
      ? "Firefox"
      : /Chrom(e|ium)\//.test(userAgent)
        ? "Chrome"
        : /Safari\//.test(userAgent)
          ? "Safari"
          : userAgent.split(" ")[0];
  const system = /iPhone|iPad/.test(userAgent)
    ? "iOS"
    : /Android/.test(userAgent)
      ? "Android"
      : /Mac OS X/.test(userAgent)
        ? "macOS"
        : /Windows/.test(userAgent)
          ? "Windows"
          : /Linux/.test(userAgent)
            ? "Linux"
            : null;
  return system ? `${browser} on ${system}` : (browser ?? "Unknown device");
}

function Sessions() {
  const queries = useQueryClient();
  const sessions = useQuery({ queryKey: ["sessions"], queryFn: () => api.auth.sessions.list.query() });
  const revoke = useMutation({
    mutationFn: (id: string) => api.auth.sessions.revoke.mutate({ id }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["sessions"] }),
  });
  const everywhere = useMutation({ mutationFn: () => api.auth.logout.mutate({ everywhere: true }) });
  return (
    <Card
      title="Where you are signed in"
      actions={
        <Button variant="danger" busy={everywhere.isPending} onClick={() => everywhere.mutate()}>
          Sign out everywhere
        </Button>
      }
    >
      <ErrorMessage error={sessions.error ?? revoke.error ?? everywhere.error} />
      <ul className="list">
        {(sessions.data ?? []).map((session) => (
          <li key={session.id} className="row" data-testid="session">
            <div>
              <strong>{deviceName(session.userAgent)}</strong>
              {session.current ? <span className="badge">this session</span> : null}
              <div className="muted">
                {session.clientAddress ?? "unknown address"} · signed in {formatDate(session.createdAt)} · last active{" "}
                {formatDate(session.lastUsedAt)}
              </div>
            </div>
            {session.current ? null : (
              <Button variant="danger" onClick={() => revoke.mutate(session.id)}>
                Sign out
              </Button>
            )}
          </li>
        ))}
      </ul>
    </Card>
  );
}

/**
 * The owner's workspace card: download everything (a one-minute link the browser follows, so the
 * file streams to disk), and schedule or cancel the workspace's deletion.
 */
function Workspace({ me }: { me: Me }) {
  const queries = useQueryClient();
  const refresh = () => queries.invalidateQueries({ queryKey: ["me"] });
  const download = useMutation({
    mutationFn: () => api.tenant.export.query(),
    onSuccess: ({ url }) => window.location.assign(new URL(url, apiUrl).href),
  });
  const schedule = useMutation({
    mutationFn: (form: FormData) => api.tenant.scheduleDeletion.mutate({ password: text(form, "password") }),
    onSuccess: refresh,
  });
  const cancel = useMutation({ mutationFn: () => api.tenant.cancelDeletion.mutate(), onSuccess: refresh });
  const due = me.tenant.deletionDueAt;
  return (
    <Card title="Your workspace">
      <p className="muted">
        Everything in {me.tenant.name}, as one file: members, projects, tasks, comments and the audit log.
      </p>
      <ErrorMessage error={download.error} />
      <Button variant="quiet" busy={download.isPending} onClick={() => download.mutate()}>
        Download all data
      </Button>
      {due ? (
        <>
          <p className="notice" role="status">
            This workspace will be deleted on {formatDate(due)}. Until then it can be read and downloaded, not changed.
          </p>
          <ErrorMessage error={cancel.error} />
          <Button busy={cancel.isPending} onClick={() => cancel.mutate()}>
            Cancel the deletion
          </Button>
        </>
      ) : (
        <Form onSubmit={(form) => schedule.mutate(form)}>
          <Field
            label="Your password, to delete this workspace"
            name="password"
            type="password"
            required
            autoComplete="current-password"
          />
          <ErrorMessage error={schedule.error} />
          <Button type="submit" variant="danger" busy={schedule.isPending}>
            Delete this workspace
          </Button>
        </Form>
      )}
    </Card>
  );
}

/** Shown to everyone while the workspace is scheduled for deletion. */
export function DeletionBanner({ me }: { me: Me }) {
  if (!me.tenant.deletionDueAt) return null;
  return (
    <div className="banner" role="status" data-testid="deletion-banner">
      This workspace is scheduled for deletion on {formatDate(me.tenant.deletionDueAt)}: you can look and download, not
      change anything.
    </div>
  );
}

export function Account({ me }: { me: Me }) {
  const queries = useQueryClient();
  const change = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.changePassword.mutate({ currentPassword: text(form, "current"), newPassword: text(form, "password") }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["sessions"] }),
  });
  return (
    <div className="stack">
      <Card title="Change your password">
        {change.isSuccess ? (
          <p className="notice" role="status">
            Your password is changed. Your other sessions were signed out; this one stays.
          </p>
        ) : null}
        <Form onSubmit={(form, element) => change.mutate(form, { onSuccess: () => element.reset() })}>
          <Field label="Current password" name="current" type="password" required autoComplete="current-password" />
          <NewPasswordField label="New password" />
          <ErrorMessage error={change.error} />
          <Button type="submit" busy={change.isPending}>
            Change password
          </Button>
        </Form>
      </Card>
      <TwoFactor me={me} />
      <Passkeys />
      <Sessions />
      {me.user.role === "owner" ? <Workspace me={me} /> : null}
    </div>
  );
}

/** The mailed verification link: verifies on arrival, once. */
export function VerifyEmail() {
  const { query } = useLocation();
  const token = query.get("token") ?? "";
  const queries = useQueryClient();
  const verify = useMutation({
    mutationFn: () => api.auth.verifyEmail.mutate({ token }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["me"] }),
  });
  const { mutate } = verify;
  useEffect(() => {
    if (token) mutate();
  }, [token, mutate]);
  return (
    <AuthFrame title="Verify your email" lead="Confirming that this address is yours.">
      {verify.isSuccess ? (
        <p className="notice" role="status">
          Your email address is verified. <Link to="/projects">Continue</Link>
        </p>
      ) : verify.isError ? (
        <ErrorMessage
          error={verify.error}
          messages={{ UNAUTHORIZED: "This link has expired or was already used. Sign in and ask for a new one." }}
        />
      ) : token ? (
        <p className="muted">Verifying…</p>
      ) : (
        <p className="error">This link has no verification token in it.</p>
      )}
    </AuthFrame>
  );
}

/** Shown to a member who has not verified their email yet. */
export function VerifyBanner({ me }: { me: Me }) {
  const resend = useMutation({ mutationFn: () => api.auth.resendVerification.mutate() });
  if (me.user.emailVerifiedAt) return null;
  return (
    <div className="banner" role="status" data-testid="verify-banner">
      <span>
        Please verify your email address: we sent a link to <strong>{me.user.email}</strong>.
        {me.tenant.requireVerifiedEmail ? " Until then you can look, but not change anything." : ""}
      </span>
      {resend.isSuccess ? (
        <span>Sent again.</span>
      ) : (
        <Button variant="quiet" busy={resend.isPending} onClick={() => resend.mutate()}>
          Send it again
        </Button>
      )}
      <ErrorMessage error={resend.error} />
    </div>
  );
}
