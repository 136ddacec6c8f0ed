/** API keys (admins): make one for a script (shown once, with a copy button), see each key's use, revoke it. */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { type ApiKey, api } from "./api";
import { Button, Card, Empty, ErrorMessage, Field, Form, formatDate, SecretOnce, Select, text } from "./ui";

const keyNote = "Copy the key now: it is not shown again. Send it as Authorization: Bearer <key>.";

function KeyRow({ apiKey }: { apiKey: ApiKey }) {
  const queries = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => api.apiKeys.revoke.mutate({ id: apiKey.id }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["api-keys"] }),
  });
  const state = apiKey.revokedAt
    ? `revoked ${formatDate(apiKey.revokedAt)}`
    : apiKey.expiresAt && apiKey.expiresAt.getTime() <= Date.now()
      ? "expired"
      : "active";
  return (
    <li className="row" data-testid="api-key">
      <div>
        <strong>{apiKey.name}</strong> <code>{apiKey.prefix}…</code>{" "}
        <span className="muted">
          {apiKey.role}
          {apiKey.readOnly ? ", read-only" : ""} · {state}
        </span>
        <div className="muted">
          Made by {apiKey.createdBy.removed ? "a former member" : (apiKey.createdBy.name ?? "")} on{" "}
          {formatDate(apiKey.createdAt)} · last used {apiKey.lastUsedAt ? formatDate(apiKey.lastUsedAt) : "never"}
          {apiKey.expiresAt ? ` · expires ${formatDate(apiKey.expiresAt)}` : ""}
        </div>
      </div>
      {apiKey.revokedAt ? null : (
        <Button variant="danger" busy={revoke.isPending} onClick={() => revoke.mutate()}>
          Revoke
        </Button>
      )}
      <ErrorMessage error={revoke.error} />
    </li>
  );
}

export function ApiKeys() {
  const queries = useQueryClient();
  const [made, setMade] = useState<string | null>(null);
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => api.apiKeys.list.query({ limit: 100 }) });
  const create = useMutation({
    mutationFn: (form: FormData) => {
      const expires = text(form, "expiresAt");
      return api.apiKeys.create.mutate({
        name: text(form, "name"),
        role: text(form, "role") === "admin" ? "admin" : "member",
        readOnly: form.get("readOnly") === "on",
        ...(expires ? { expiresAt: new Date(`${expires}T23:59:59`) } : {}),
      });
    },
    onSuccess: (result) => {
      setMade(result.key);
      void queries.invalidateQueries({ queryKey: ["api-keys"] });
    },
  });
  return (
    <div className="stack">
      <Card title="New API key">
        <p className="muted">
          A key lets a script call this workspace's API (tRPC or REST, <a href="/api/docs">reference</a>) as itself: its
          changes show in the audit log under its name. It cannot manage keys, members or the workspace.
        </p>
        <Form onSubmit={(form, element) => create.mutate(form, { onSuccess: () => element.reset() })}>
          <Field label="Name" name="name" required maxLength={200} placeholder="Nightly sync" />
          <Select label="Role" name="role" defaultValue="member">
            <option value="member">member</option>
            <option value="admin">admin</option>
          </Select>
          <label className="setting">
            <input type="checkbox" name="readOnly" /> Read-only: it may read, never change
          </label>
          <Field label="Expires (optional)" name="expiresAt" type="date" />
          <Button type="submit" busy={create.isPending}>
            Create key
          </Button>
        </Form>
        <ErrorMessage error={create.error} />
        {made ? <SecretOnce label="API key" secret={made} note={keyNote} /> : null}
      </Card>
      <Card title="Keys">
        <ErrorMessage error={keys.error} />
        {keys.isSuccess && keys.data.items.length === 0 ? <Empty>No keys yet.</Empty> : null}
        <ul className="list">
          {(keys.data?.items ?? []).map((key) => (
            <KeyRow key={key.id} apiKey={key} />
          ))}
        </ul>
      </Card>
    </div>
  );
}
