/** The audit log: who did what, newest first (admins). */
import { useInfiniteQuery } from "@tanstack/react-query";
import { api } from "./api";
import { useAllMembers } from "./projects";
import { Button, Card, Empty, ErrorMessage, formatDate } from "./ui";

const actions: Record<string, string> = {
  "tenant.registered": "created the workspace",
  "tenant.updated": "renamed the workspace",
  "auth.login": "signed in",
  "auth.refreshed": "resumed a session",
  "auth.logout": "signed out",
  "auth.logout_all": "signed out everywhere",
  "member.invited": "invited a member",
  "invitation.accepted": "joined",
  "member.role_changed": "changed a role",
  "member.removed": "removed a member",
  "invitation.revoked": "revoked an invitation",
  "project.created": "created a project",
  "project.updated": "updated a project",
  "project.deleted": "deleted a project",
  "task.created": "created a task",
  "task.updated": "updated a task",
  "task.deleted": "deleted a task",
  "comment.created": "commented",
  "comment.deleted": "deleted a comment",
  "webhook.created": "added a webhook endpoint",
  "webhook.updated": "changed a webhook endpoint",
  "webhook.deleted": "deleted a webhook endpoint",
  "webhook.secret_rotated": "rotated a webhook's secret",
  "webhook.redelivered": "sent a webhook delivery again",
};

export function AuditLog() {
  const members = useAllMembers();
  const events = useInfiniteQuery({
    queryKey: ["audit"],
    queryFn: ({ pageParam }) => api.audit.list.query({ limit: 25, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const nameOf = new Map((members.data ?? []).map((m) => [m.id, m.name]));
  const items = events.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <Card title="Audit log">
      <ErrorMessage error={events.error} />
      {events.isSuccess && items.length === 0 ? <Empty>Nothing recorded yet.</Empty> : null}
      <table className="table">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
          </tr>
        </thead>
        <tbody>
          {items.map((event) => (
            <tr key={event.id} data-testid="audit-event">
              <td className="nowrap">{formatDate(event.createdAt)}</td>
              <td>{event.actorId ? (nameOf.get(event.actorId) ?? "A former member") : "System"}</td>
              <td>
                {actions[event.action] ?? event.action} <code className="muted">{event.action}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.hasNextPage ? (
        <Button variant="quiet" busy={events.isFetchingNextPage} onClick={() => events.fetchNextPage()}>
          Load more
        </Button>
      ) : null}
    </Card>
  );
}
