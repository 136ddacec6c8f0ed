/** Webhooks (admins): endpoints with the events they take, the secret once, deliveries, redelivery, rotation. */

import type { RouterInputs } from "@bulkhead/client";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Webhook } from "./api";
import { Button, Card, Empty, ErrorMessage, Field, Form, formatDate, SecretOnce, text } from "./ui";

type EventType = RouterInputs["webhooks"]["create"]["events"][number];

/** What each event type means to a person; a type the API adds fails the build until it is here. */
const eventLabels: Record<EventType, string> = {
  "project.created": "a project is created",
  "project.updated": "a project changes",
  "project.deleted": "a project is deleted",
  "task.created": "a task is created",
  "task.updated": "a task changes",
  "task.deleted": "a task is deleted",
  "comment.created": "someone comments",
  "comment.deleted": "a comment is deleted",
  "member.joined": "a member joins",
  "member.role_changed": "a member's role changes",
  "member.removed": "a member is removed",
};
const eventTypes = Object.keys(eventLabels) as EventType[];

const signingNote = "Copy the signing secret now: it is not shown again. Receivers verify each delivery with it.";

function Deliveries({ webhook }: { webhook: Webhook }) {
  const queries = useQueryClient();
  const deliveries = useInfiniteQuery({
    queryKey: ["webhook-deliveries", webhook.id],
    queryFn: ({ pageParam }) =>
      api.webhooks.deliveries.list.query({
        webhookId: webhook.id,
        limit: 20,
        ...(pageParam ? { cursor: pageParam } : {}),
      }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
    // Pending deliveries settle on their own: look again while any is.
    refetchInterval: (query) =>
      query.state.data?.pages.some((page) => page.items.some((d) => d.status === "pending")) ? 1000 : false,
  });
  const redeliver = useMutation({
    mutationFn: (deliveryId: string) => api.webhooks.redeliver.mutate({ deliveryId }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["webhook-deliveries", webhook.id] }),
  });
  const items = deliveries.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <div className="deliveries">
      <ErrorMessage error={deliveries.error ?? redeliver.error} />
      {deliveries.isSuccess && items.length === 0 ? <Empty>No deliveries yet.</Empty> : null}
      {items.length > 0 ? (
        <table className="table">
          <thead>
            <tr>
              <th>Event</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Answer</th>
              <th>When</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((delivery) => (
              <tr key={delivery.id} data-testid="delivery">
                <td>{delivery.eventType}</td>
                <td>{delivery.status}</td>
                <td>{delivery.attempts}</td>
                <td>{delivery.lastError ?? (delivery.lastStatus ? `HTTP ${delivery.lastStatus}` : "—")}</td>
                <td>{formatDate(delivery.createdAt)}</td>
                <td>
                  {delivery.status !== "pending" ? (
                    <Button
                      variant="quiet"
                      busy={redeliver.isPending && redeliver.variables === delivery.id}
                      onClick={() => redeliver.mutate(delivery.id)}
                    >
                      Send again
                    </Button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {deliveries.hasNextPage ? (
        <Button variant="quiet" busy={deliveries.isFetchingNextPage} onClick={() => deliveries.fetchNextPage()}>
          Older deliveries
        </Button>
      ) : null}
    </div>
  );
}

function Endpoint({ webhook }: { webhook: Webhook }) {
  const queries = useQueryClient();
  const [open, setOpen] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const refresh = () => queries.invalidateQueries({ queryKey: ["webhooks"] });
  const toggle = useMutation({
    mutationFn: () => api.webhooks.update.mutate({ id: webhook.id, enabled: !webhook.enabled }),
    onSuccess: refresh,
  });
  const rotate = useMutation({
    mutationFn: () => api.webhooks.rotateSecret.mutate({ id: webhook.id }),
    onSuccess: (result) => setSecret(result.secret),
  });
  const remove = useMutation({ mutationFn: () => api.webhooks.delete.mutate({ id: webhook.id }), onSuccess: refresh });
  return (
    <li data-testid="webhook" className="endpoint">
      <strong className="endpoint-url">{webhook.url}</strong>
      <small className="muted">
        {webhook.enabled
          ? `On · ${webhook.events.length} event types`
          : `Off since ${webhook.disabledAt ? formatDate(webhook.disabledAt) : "—"}${webhook.consecutiveDead > 0 ? ` after ${webhook.consecutiveDead} dead deliveries` : ""}`}
      </small>
      <div className="row">
        <Button variant="quiet" onClick={() => setOpen(!open)}>
          {open ? "Hide deliveries" : "Deliveries"}
        </Button>
        <Button variant="quiet" busy={toggle.isPending} onClick={() => toggle.mutate()}>
          {webhook.enabled ? "Turn off" : "Turn on"}
        </Button>
        <Button variant="quiet" busy={rotate.isPending} onClick={() => rotate.mutate()}>
          Rotate secret
        </Button>
        <Button variant="danger" busy={remove.isPending} onClick={() => remove.mutate()}>
          Delete
        </Button>
      </div>
      <ErrorMessage error={toggle.error ?? rotate.error ?? remove.error} />
      {secret ? <SecretOnce label="New signing secret" secret={secret} note={signingNote} /> : null}
      {open ? <Deliveries webhook={webhook} /> : null}
    </li>
  );
}

export function Webhooks() {
  const queries = useQueryClient();
  const [created, setCreated] = useState<{ url: string; secret: string } | null>(null);
  const webhooks = useQuery({ queryKey: ["webhooks"], queryFn: () => api.webhooks.list.query() });
  const create = useMutation({
    mutationFn: (form: FormData) =>
      api.webhooks.create.mutate({
        url: text(form, "url"),
        events: eventTypes.filter((type) => form.get(type) === "on"),
      }),
    onSuccess: (result) => {
      setCreated({ url: result.url, secret: result.secret });
      void queries.invalidateQueries({ queryKey: ["webhooks"] });
    },
  });
  return (
    <div className="stack">
      <Card title="New webhook endpoint">
        <Form onSubmit={(form, element) => create.mutate(form, { onSuccess: () => element.reset() })}>
          <Field
            label="Endpoint URL"
            name="url"
            type="url"
            required
            maxLength={2000}
            placeholder="https://example.com/hooks/bulkhead"
          />
          <fieldset className="event-types">
            <legend>Events</legend>
            {eventTypes.map((type) => (
              <label key={type} className="setting">
                <input type="checkbox" name={type} defaultChecked /> <code>{type}</code>
                <span className="muted"> {eventLabels[type]}</span>
              </label>
            ))}
          </fieldset>
          <Button type="submit" busy={create.isPending}>
            Add endpoint
          </Button>
        </Form>
        <ErrorMessage error={create.error} />
        {created ? <SecretOnce label="Signing secret" secret={created.secret} note={signingNote} /> : null}
      </Card>
      <Card title="Endpoints">
        <ErrorMessage error={webhooks.error} />
        {webhooks.isSuccess && webhooks.data.length === 0 ? (
          <Empty>No endpoints yet. Changes are signed and posted to each one you add.</Empty>
        ) : null}
        <ul className="list">
          {(webhooks.data ?? []).map((webhook) => (
            <Endpoint key={webhook.id} webhook={webhook} />
          ))}
        </ul>
      </Card>
    </div>
  );
}
