/** Passwords: forgot, reset from the mailed link, and change while signed in. */
import { useMutation } from "@tanstack/react-query";
import { api } from "./api";
import { AuthFrame } from "./auth";
import { Link, useLocation } from "./router";
import { Button, Card, ErrorMessage, Field, Form, NewPasswordField, text } from "./ui";

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

export function Account() {
  const change = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.changePassword.mutate({ currentPassword: text(form, "current"), newPassword: text(form, "password") }),
  });
  return (
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
  );
}
