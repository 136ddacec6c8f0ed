/** The few building blocks every screen uses. */

import type { ButtonHTMLAttributes, FormEvent, InputHTMLAttributes, ReactNode, SelectHTMLAttributes } from "react";
import { useState } from "react";
import { describeError } from "./api";

export function Field({
  label,
  hint,
  ...input
}: InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      <input {...input} />
      {hint ? <small>{hint}</small> : null}
    </label>
  );
}

export function Select({ label, children, ...select }: SelectHTMLAttributes<HTMLSelectElement> & { label: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      <select {...select}>{children}</select>
    </label>
  );
}

export function Button({
  busy,
  variant = "primary",
  children,
  ...button
}: ButtonHTMLAttributes<HTMLButtonElement> & { busy?: boolean; variant?: "primary" | "quiet" | "danger" }) {
  return (
    <button className={`button ${variant}`} disabled={busy || button.disabled} {...button}>
      {busy ? "Working…" : children}
    </button>
  );
}

/** A failed request, said plainly; nothing when there is none. */
export function ErrorMessage({ error, messages }: { error: unknown; messages?: Record<string, string> }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {describeError(error, messages)}
    </p>
  );
}

export function Form({
  onSubmit,
  children,
  className,
}: {
  /** The form's fields, and the form (to reset it once the request succeeds). */
  onSubmit: (form: FormData, element: HTMLFormElement) => void;
  children: ReactNode;
  className?: string;
}) {
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    onSubmit(new FormData(event.currentTarget), event.currentTarget);
  };
  return (
    <form className={className ?? "form"} onSubmit={submit}>
      {children}
    </form>
  );
}

export const text = (form: FormData, name: string) => String(form.get(name) ?? "");

export function Card({ title, actions, children }: { title?: ReactNode; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="card">
      {title || actions ? (
        <header className="card-header">
          {title ? <h2>{title}</h2> : null}
          {actions}
        </header>
      ) : null}
      {children}
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export const formatDate = (date: Date) => date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** The mark and a name: the product's on the public screens, the workspace's inside. */
export function Brand({ children }: { children: ReactNode }) {
  return (
    <div className="brand">
      <span className="logo" aria-hidden="true">
        ▣
      </span>{" "}
      {children}
    </div>
  );
}

/** A new password: the server's rule (12 to 256 characters) said before it is broken. */
export function NewPasswordField({ label = "Password" }: { label?: string }) {
  return (
    <Field
      label={label}
      name="password"
      type="password"
      required
      minLength={12}
      maxLength={256}
      autoComplete="new-password"
      hint="At least 12 characters."
    />
  );
}

/** A secret shown once, with a button that copies it. */
export function SecretOnce({ label, secret, note }: { label: string; secret: string; note: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="notice" role="status">
      <p>{note}</p>
      <input className="copy" readOnly value={secret} aria-label={label} onFocus={(e) => e.target.select()} />
      <Button
        variant="quiet"
        onClick={() =>
          void navigator.clipboard?.writeText(secret).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? "Copied" : "Copy"}
      </Button>
    </div>
  );
}
