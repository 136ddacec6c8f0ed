/**
 * Two-factor sign-in on the account page: set up TOTP (a QR code drawn here, in the browser, from
 * the otpauth URI: the key never leaves for a QR service), keep the recovery codes, turn it off.
 * The same card is the whole app for a member a workspace's policy holds until they set it up.
 */

import { startRegistration } from "@simplewebauthn/browser";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import QRCode from "qrcode";
import { useEffect, useState } from "react";
import { api, type Me } from "./api";
import { Button, Card, ErrorMessage, Field, Form, formatDate, text } from "./ui";

const codeField = {
  required: true,
  autoComplete: "one-time-code",
  inputMode: "numeric",
  pattern: "[0-9]{6}",
  maxLength: 6,
  placeholder: "123456",
} as const;

/** The otpauth URI as a QR code image (a data: URL), or null while it is drawn. */
function useQrCode(uri: string | null): string | null {
  const [image, setImage] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    if (uri) void QRCode.toDataURL(uri, { margin: 1, width: 200 }).then((url) => current && setImage(url));
    return () => {
      current = false;
    };
  }, [uri]);
  return uri ? image : null;
}

/** Recovery codes, shown once: to copy or to download as a text file. */
function RecoveryCodes({ codes, workspace, onDone }: { codes: string[]; workspace: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const file = `Recovery codes for ${workspace}. Each works once.\n\n${codes.join("\n")}\n`;
  return (
    <div className="notice" role="status" data-testid="recovery-codes">
      <p>
        Two-factor sign-in is on. Keep these recovery codes somewhere safe: each signs you in once without your phone.
      </p>
      <ol className="codes">
        {codes.map((code) => (
          <li key={code}>{code}</li>
        ))}
      </ol>
      <Button
        variant="quiet"
        onClick={() =>
          void navigator.clipboard?.writeText(codes.join("\n")).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? "Copied" : "Copy"}
      </Button>{" "}
      <a
        className="button quiet"
        download="bulkhead-recovery-codes.txt"
        href={`data:text/plain;charset=utf-8,${encodeURIComponent(file)}`}
      >
        Download
      </a>{" "}
      <Button onClick={onDone}>I have saved them</Button>
    </div>
  );
}

export function TwoFactor({ me }: { me: Me }) {
  const queries = useQueryClient();
  const status = useQuery({ queryKey: ["mfa"], queryFn: () => api.auth.mfa.status.query() });
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const enroll = useMutation({ mutationFn: () => api.auth.mfa.totp.enroll.mutate() });
  const confirm = useMutation({
    mutationFn: (form: FormData) => api.auth.mfa.totp.confirm.mutate({ code: text(form, "code") }),
    // The codes stay on screen until the member says they saved them; only then does the page
    // (which a workspace's policy may have held at this card) move on.
    onSuccess: ({ recoveryCodes: codes }) => {
      setRecoveryCodes(codes);
      enroll.reset();
    },
  });
  const disable = useMutation({
    mutationFn: (form: FormData) =>
      api.auth.mfa.totp.disable.mutate({ password: text(form, "password"), code: text(form, "code") }),
    onSuccess: () => {
      setRecoveryCodes(null);
      void queries.invalidateQueries({ queryKey: ["mfa"] });
    },
  });
  const qr = useQrCode(enroll.data?.uri ?? null);
  const on = status.data?.totp ?? false;

  return (
    <Card title="Two-factor sign-in">
      <ErrorMessage error={status.error} />
      {recoveryCodes ? (
        <RecoveryCodes
          codes={recoveryCodes}
          workspace={me.tenant.name}
          onDone={() => {
            setRecoveryCodes(null);
            void queries.invalidateQueries();
          }}
        />
      ) : on ? (
        <>
          <p className="muted" data-testid="mfa-on">
            On: signing in asks for a code from your authenticator app. {status.data?.recoveryCodesLeft ?? 0} recovery
            codes left.
          </p>
          {status.data?.required ? (
            <p className="muted">This workspace requires it, so it cannot be turned off.</p>
          ) : (
            <Form onSubmit={(form, element) => disable.mutate(form, { onSuccess: () => element.reset() })}>
              <Field label="Password" name="password" type="password" required autoComplete="current-password" />
              <Field label="Code from your app" name="code" {...codeField} />
              <ErrorMessage error={disable.error} />
              <Button type="submit" variant="danger" busy={disable.isPending}>
                Turn off two-factor sign-in
              </Button>
            </Form>
          )}
        </>
      ) : enroll.data ? (
        <>
          <p className="muted">
            Scan this with an authenticator app (1Password, Google Authenticator, Authy…), or type the key, then enter
            the code it shows.
          </p>
          {qr ? <img className="qr" src={qr} alt="QR code of your two-factor key" data-testid="totp-qr" /> : null}
          <input
            className="copy"
            readOnly
            value={enroll.data.secret}
            aria-label="Two-factor key"
            data-testid="totp-secret"
            onFocus={(e) => e.target.select()}
          />
          <Form onSubmit={(form) => confirm.mutate(form)}>
            <Field label="Code from your app" name="code" {...codeField} />
            <ErrorMessage error={confirm.error} />
            <Button type="submit" busy={confirm.isPending}>
              Turn on
            </Button>
          </Form>
        </>
      ) : (
        <>
          <p className="muted">
            Off. With it on, signing in also asks for a code from an authenticator app on your phone.
          </p>
          <ErrorMessage error={enroll.error} />
          <Button busy={enroll.isPending} onClick={() => enroll.mutate()}>
            Set up two-factor sign-in
          </Button>
        </>
      )}
    </Card>
  );
}

/** The caller's passkeys: add one (the browser makes it), see them, remove one. */
export function Passkeys() {
  const queries = useQueryClient();
  const list = useQuery({ queryKey: ["passkeys"], queryFn: () => api.auth.passkeys.list.query() });
  const changed = () => {
    void queries.invalidateQueries({ queryKey: ["passkeys"] });
    void queries.invalidateQueries({ queryKey: ["mfa"] });
  };
  const add = useMutation({
    mutationFn: async (form: FormData) => {
      const optionsJSON = await api.auth.passkeys.registerOptions.mutate();
      const response = await startRegistration({ optionsJSON });
      return api.auth.passkeys.register.mutate({ response, name: text(form, "name") });
    },
    onSuccess: changed,
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.auth.passkeys.remove.mutate({ id }),
    onSuccess: changed,
  });
  return (
    <Card title="Passkeys">
      <p className="muted">
        A passkey signs you in with your device's screen lock or a security key: as your second factor, or on its own
        with "Sign in with a passkey".
      </p>
      <ErrorMessage error={list.error ?? remove.error} />
      <ul className="list">
        {(list.data ?? []).map((key) => (
          <li key={key.id} className="row" data-testid="passkey">
            <div>
              <strong>{key.name}</strong>
              <div className="muted">
                added {formatDate(key.createdAt)} · last used {key.lastUsedAt ? formatDate(key.lastUsedAt) : "never"}
              </div>
            </div>
            <Button variant="danger" onClick={() => remove.mutate(key.id)}>
              Remove
            </Button>
          </li>
        ))}
      </ul>
      <Form
        className="inline-form"
        onSubmit={(form, element) => add.mutate(form, { onSuccess: () => element.reset() })}
      >
        <Field label="Passkey name" name="name" required defaultValue="This device" maxLength={60} />
        <Button type="submit" busy={add.isPending}>
          Add a passkey
        </Button>
      </Form>
      <ErrorMessage error={add.error} />
    </Card>
  );
}

/** What a member a workspace's policy holds sees, until they set up a second factor. */
export function TwoFactorRequired({ me }: { me: Me }) {
  return (
    <div className="stack" data-testid="mfa-required">
      <div className="banner" role="status">
        {me.tenant.name} requires two-factor sign-in. Set it up to continue.
      </div>
      <TwoFactor me={me} />
      <Passkeys />
    </div>
  );
}
