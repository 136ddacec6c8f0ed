/** Members and invitations: invite, change a role, remove, revoke an invitation. */
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Me, type Role } from "./api";
import { Button, Card, Empty, ErrorMessage, Field, Form, formatDate, Select, text } from "./ui";

const roleNames: Record<Role, string> = { owner: "Owner", admin: "Admin", member: "Member" };

export function Members({ me }: { me: Me }) {
  const queries = useQueryClient();
  const isAdmin = me.user.role !== "member";
  const isOwner = me.user.role === "owner";
  const [created, setCreated] = useState<{ email: string; link: string } | null>(null);
  const members = useInfiniteQuery({
    queryKey: ["members", "pages"],
    queryFn: ({ pageParam }) => api.members.list.query({ limit: 20, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const invitations = useInfiniteQuery({
    queryKey: ["invitations"],
    queryFn: ({ pageParam }) =>
      api.members.invitations.query({ limit: 20, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
    enabled: isAdmin,
  });
  const changed = () => {
    void queries.invalidateQueries({ queryKey: ["members"] });
    void queries.invalidateQueries({ queryKey: ["invitations"] });
  };
  const invite = useMutation({
    mutationFn: (form: FormData) =>
      api.members.invite.mutate({ email: text(form, "email"), role: text(form, "role") as "admin" | "member" }),
    onMutate: () => setCreated(null),
    onSuccess: (invitation, form) => {
      const link = new URL(`/invite?token=${encodeURIComponent(invitation.token)}`, window.location.origin).href;
      setCreated({ email: text(form, "email"), link });
      changed();
    },
  });
  const setRole = useMutation({
    mutationFn: (change: { userId: string; role: Role }) => api.members.updateRole.mutate(change),
    onSuccess: changed,
  });
  const signOut = useMutation({
    mutationFn: (userId: string) => api.members.signOut.mutate({ userId }),
  });
  const remove = useMutation({
    mutationFn: (userId: string) => api.members.remove.mutate({ userId }),
    onSuccess: changed,
  });
  const revoke = useMutation({
    mutationFn: (invitationId: string) => api.members.revokeInvitation.mutate({ invitationId }),
    onSuccess: changed,
  });
  const resetMfa = useMutation({
    mutationFn: (userId: string) => api.members.resetMfa.mutate({ userId }),
  });
  const policy = useMutation({
    mutationFn: (requireMfa: boolean) => api.tenant.update.mutate({ requireMfa }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["me"] }),
  });
  const setting = useMutation({
    mutationFn: (requireVerifiedEmail: boolean) => api.tenant.update.mutate({ requireVerifiedEmail }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["me"] }),
  });
  const people = members.data?.pages.flatMap((page) => page.items) ?? [];
  const pending = invitations.data?.pages.flatMap((page) => page.items) ?? [];

  return (
    <div className="stack">
      {isAdmin ? (
        <Card title="Invite someone">
          <Form
            className="inline-form"
            onSubmit={(form, element) => invite.mutate(form, { onSuccess: () => element.reset() })}
          >
            <Field label="Email" name="email" type="email" required placeholder="grace@example.com" />
            <Select label="Role" name="role" defaultValue="member">
              <option value="member">Member</option>
              <option value="admin">Admin</option>
            </Select>
            <Button type="submit" busy={invite.isPending}>
              Create invitation
            </Button>
          </Form>
          <ErrorMessage error={invite.error} />
          {created ? (
            <div className="notice" role="status">
              <p>Send this link to {created.email}; it works once, for 7 days.</p>
              <input
                className="copy"
                readOnly
                value={created.link}
                aria-label="Invitation link"
                onFocus={(e) => e.target.select()}
              />
            </div>
          ) : null}
        </Card>
      ) : null}

      {isAdmin ? (
        <Card title="Workspace settings">
          <label className="setting">
            <input
              type="checkbox"
              checked={me.tenant.requireVerifiedEmail}
              disabled={setting.isPending}
              onChange={(e) => setting.mutate(e.target.checked)}
            />
            <span>
              <strong>Members must verify their email address before they change anything</strong>
              <div className="muted">Until they do, they can sign in and look around.</div>
            </span>
          </label>
          <ErrorMessage error={setting.error} />
          {isOwner ? (
            <label className="setting">
              <input
                type="checkbox"
                data-testid="require-mfa"
                checked={me.tenant.requireMfa}
                disabled={policy.isPending}
                onChange={(e) => policy.mutate(e.target.checked)}
              />
              <span>
                <strong>Members must sign in with two-factor sign-in</strong>
                <div className="muted">
                  Anyone without it is asked to set it up before they can do anything else. Turn it on for yourself
                  first, on your account page.
                </div>
              </span>
            </label>
          ) : null}
          <ErrorMessage error={policy.error} />
        </Card>
      ) : null}

      <Card title="Members">
        <ErrorMessage error={members.error ?? setRole.error ?? remove.error ?? signOut.error ?? resetMfa.error} />
        {resetMfa.isSuccess ? (
          <p className="notice" role="status">
            Their two-factor sign-in is reset: they were mailed, and set it up again at their next sign-in.
          </p>
        ) : null}
        {signOut.isSuccess ? (
          <p className="notice" role="status">
            Signed out of {signOut.data.sessions} session{signOut.data.sessions === 1 ? "" : "s"}.
          </p>
        ) : null}
        <ul className="list">
          {people.map((person) => (
            <li key={person.id} className="row" data-testid="member">
              <div>
                <strong>{person.name}</strong>
                {person.id === me.user.id ? <span className="badge">you</span> : null}
                {person.emailVerifiedAt ? null : <span className="badge">unverified</span>}
                <div className="muted">{person.email}</div>
              </div>
              <div className="row-actions">
                {isOwner ? (
                  <Select
                    label="Role"
                    value={person.role}
                    onChange={(e) => setRole.mutate({ userId: person.id, role: e.target.value as Role })}
                  >
                    {(Object.keys(roleNames) as Role[]).map((role) => (
                      <option key={role} value={role}>
                        {roleNames[role]}
                      </option>
                    ))}
                  </Select>
                ) : (
                  <span className="badge">{roleNames[person.role]}</span>
                )}
                {isAdmin && person.id !== me.user.id ? (
                  <Button variant="quiet" onClick={() => signOut.mutate(person.id)}>
                    Sign out
                  </Button>
                ) : null}
                {isAdmin && person.id !== me.user.id && (isOwner || person.role !== "owner") ? (
                  <Button
                    variant="quiet"
                    onClick={() => {
                      if (window.confirm(`Reset the two-factor sign-in of ${person.name}?`)) resetMfa.mutate(person.id);
                    }}
                  >
                    Reset 2FA
                  </Button>
                ) : null}
                {isAdmin && person.id !== me.user.id ? (
                  <Button
                    variant="danger"
                    onClick={() => {
                      if (window.confirm(`Remove ${person.name} from ${me.tenant.name}?`)) remove.mutate(person.id);
                    }}
                  >
                    Remove
                  </Button>
                ) : null}
              </div>
            </li>
          ))}
        </ul>
        {members.hasNextPage ? (
          <Button variant="quiet" busy={members.isFetchingNextPage} onClick={() => members.fetchNextPage()}>
            Load more
          </Button>
        ) : null}
      </Card>

      {isAdmin ? (
        <Card title="Pending invitations">
          <ErrorMessage error={invitations.error ?? revoke.error} />
          {invitations.isSuccess && pending.length === 0 ? <Empty>No pending invitations.</Empty> : null}
          <ul className="list">
            {pending.map((invitation) => (
              <li key={invitation.id} className="row" data-testid="invitation">
                <div>
                  <strong>{invitation.email}</strong>
                  <div className="muted">
                    {roleNames[invitation.role]} · expires {formatDate(invitation.expiresAt)}
                  </div>
                </div>
                <Button variant="danger" onClick={() => revoke.mutate(invitation.id)}>
                  Revoke
                </Button>
              </li>
            ))}
          </ul>
          {invitations.hasNextPage ? (
            <Button variant="quiet" busy={invitations.isFetchingNextPage} onClick={() => invitations.fetchNextPage()}>
              Load more
            </Button>
          ) : null}
        </Card>
      ) : null}
    </div>
  );
}
