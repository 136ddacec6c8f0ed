/** The screens before a session: sign in, create a workspace, accept an invitation. */

import type { MfaChallenge } from "@bulkhead/client";
import { startAuthentication } from "@simplewebauthn/browser";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "./api";
import { Link, navigate, useLocation } from "./router";
import { Brand, Button, ErrorMessage, Field, Form, NewPasswordField, text } from "./ui";

/** After any of them: forget every cached answer of the previous session, and go to the projects. */
function useSignedIn() {
  const queries = useQueryClient();
  return async () => {
    queries.clear();
    await queries.fetchQuery({ queryKey: ["me"], queryFn: () => api.auth.me.query() });
    navigate("/projects", { replace: true });
  };
}

export function AuthFrame({ title, lead, children }: { title: string; lead: string; children: React.ReactNode }) {
  return (
    <main className="auth">
      <div className="auth-panel">
        <Brand>Bulkhead</Brand>
        <h1>{title}</h1>
        <p className="lead">{lead}</p>
        {children}
      </div>
    </main>
  );
}

export function SignIn() {
  const { query } = useLocation();
  const signedIn = useSignedIn();
  const [challenge, setChallenge] = useState<MfaChallenge | null>(null);
  const login = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.login.mutate({
        tenantSlug: text(form, "tenant"),
        email: text(form, "email"),
        password: text(form, "password"),
      }),
    // A member with two-factor sign-in gets a challenge to answer, not a session.
    onSuccess: (answer) => ("mfaRequired" in answer ? setChallenge(answer) : signedIn()),
  });
  // A passkey alone: the workspace's name, then the browser asks for the passkey.
  const withPasskey = useMutation({
    mutationFn: async (tenantSlug: string) => {
      const optionsJSON = await api.auth.passkeys.loginOptions.mutate({ tenantSlug });
      return api.auth.passkeys.login.mutate({ response: await startAuthentication({ optionsJSON }) });
    },
    onSuccess: signedIn,
  });
  if (challenge) return <SecondFactor answer={challenge} onRestart={() => setChallenge(null)} />;
  return (
    <AuthFrame title="Sign in" lead="to your team's workspace.">
      <Form onSubmit={(form) => login.mutate(form)}>
        <Field
          label="Workspace"
          name="tenant"
          required
          autoComplete="organization"
          defaultValue={query.get("workspace") ?? ""}
          placeholder="acme"
        />
        <Field label="Email" name="email" type="email" required autoComplete="email" />
        <Field label="Password" name="password" type="password" required autoComplete="current-password" />
        <ErrorMessage error={login.error ?? withPasskey.error} />
        <Button type="submit" busy={login.isPending}>
          Sign in
        </Button>
        <Button
          type="button"
          variant="quiet"
          busy={withPasskey.isPending}
          onClick={(event) => {
            const workspace = event.currentTarget.form?.elements.namedItem("tenant") as HTMLInputElement | null;
            if (workspace?.reportValidity()) withPasskey.mutate(workspace.value.trim().toLowerCase());
          }}
        >
          Sign in with a passkey
        </Button>
      </Form>
      <p className="switch">
        <Link to="/forgot-password">Forgot your password?</Link> · New here?{" "}
        <Link to="/signup">Create a workspace</Link>
      </p>
    </AuthFrame>
  );
}

/** The second step of a sign-in: a code from the authenticator app, or one of the recovery codes. */
function SecondFactor({ answer, onRestart }: { answer: MfaChallenge; onRestart: () => void }) {
  const signedIn = useSignedIn();
  const { challenge, passkeyOptions } = answer;
  const hasTotp = answer.methods.includes("totp");
  const [recovery, setRecovery] = useState(false);
  const verify = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.mfa.verify.mutate(
        recovery ? { challenge, recoveryCode: text(form, "recovery") } : { challenge, code: text(form, "code") },
      ),
    onSuccess: signedIn,
  });
  const passkey = useMutation({
    mutationFn: async () => {
      if (!passkeyOptions) throw new Error("This account has no passkey");
      const passkeyResponse = await startAuthentication({ optionsJSON: passkeyOptions });
      return api.auth.mfa.verify.mutate({ challenge, passkeyResponse });
    },
    onSuccess: signedIn,
  });
  const passkeyButton = passkeyOptions ? (
    <Button
      type="button"
      variant={hasTotp ? "quiet" : "primary"}
      busy={passkey.isPending}
      onClick={() => passkey.mutate()}
    >
      Use your passkey
    </Button>
  ) : null;
  if (!hasTotp) {
    return (
      <AuthFrame title="Two-factor sign-in" lead="Confirm with your passkey.">
        <ErrorMessage error={passkey.error} />
        {passkeyButton}
        <p className="switch">
          <button type="button" className="link" onClick={onRestart}>
            Start over
          </button>
        </p>
      </AuthFrame>
    );
  }
  return (
    <AuthFrame
      title="Two-factor sign-in"
      lead={recovery ? "Enter one of your recovery codes." : "Enter the 6-digit code from your authenticator app."}
    >
      <ErrorMessage error={passkey.error} />
      {passkeyButton}
      <Form onSubmit={(form) => verify.mutate(form)}>
        {recovery ? (
          <Field label="Recovery code" name="recovery" required autoComplete="off" placeholder="XXXX-XXXX-XXXX" />
        ) : (
          <Field
            label="Code"
            name="code"
            required
            autoComplete="one-time-code"
            inputMode="numeric"
            pattern="[0-9]{6}"
            maxLength={6}
            placeholder="123456"
          />
        )}
        <ErrorMessage
          error={verify.error}
          messages={{ UNAUTHORIZED: "That code did not work. Try the next one, or sign in again." }}
        />
        <Button type="submit" busy={verify.isPending}>
          Verify
        </Button>
      </Form>
      <p className="switch">
        <button type="button" className="link" onClick={() => setRecovery(!recovery)}>
          {recovery ? "Use your authenticator app" : "Use a recovery code"}
        </button>{" "}
        ·{" "}
        <button type="button" className="link" onClick={onRestart}>
          Start over
        </button>
      </p>
    </AuthFrame>
  );
}

const slugOf = (name: string) =>
  name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);

export function CreateWorkspace() {
  const signedIn = useSignedIn();
  const [name, setName] = useState("");
  const [slug, setSlug] = useState<string | null>(null);
  const register = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.registerTenant.mutate({
        tenant: { name: text(form, "workspace"), slug: text(form, "slug") },
        owner: { name: text(form, "name"), email: text(form, "email"), password: text(form, "password") },
      }),
    onSuccess: signedIn,
  });
  return (
    <AuthFrame
      title="Create a workspace"
      lead="Your team's projects, tasks and members, isolated from everyone else's."
    >
      <Form onSubmit={(form) => register.mutate(form)}>
        <Field
          label="Workspace name"
          name="workspace"
          required
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <Field
          label="Workspace address"
          name="slug"
          required
          value={slug ?? slugOf(name)}
          onChange={(e) => setSlug(e.target.value)}
          hint="Lower-case letters, digits and dashes; you sign in with it."
        />
        <Field label="Your name" name="name" required autoComplete="name" />
        <Field label="Email" name="email" type="email" required autoComplete="email" />
        <NewPasswordField />
        <ErrorMessage error={register.error} />
        <Button type="submit" busy={register.isPending}>
          Create workspace
        </Button>
      </Form>
      <p className="switch">
        Already have one? <Link to="/signin">Sign in</Link>
      </p>
    </AuthFrame>
  );
}

export function AcceptInvitation() {
  const { query } = useLocation();
  const token = query.get("token") ?? "";
  const signedIn = useSignedIn();
  const accept = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.acceptInvite.mutate({ token, name: text(form, "name"), password: text(form, "password") }),
    onSuccess: signedIn,
  });
  return (
    <AuthFrame title="Join your team" lead="You were invited to a Bulkhead workspace. Choose your name and a password.">
      {token ? (
        <Form onSubmit={(form) => accept.mutate(form)}>
          <Field label="Your name" name="name" required autoComplete="name" />
          <NewPasswordField />
          <ErrorMessage
            error={accept.error}
            messages={{ UNAUTHORIZED: "This invitation has expired, was revoked, or was already used." }}
          />
          <Button type="submit" busy={accept.isPending}>
            Accept invitation
          </Button>
        </Form>
      ) : (
        <p className="error">This link has no invitation in it. Ask for a new one.</p>
      )}
    </AuthFrame>
  );
}
