/** Projects: the list with keyset "load more", and a project's live task board with its task panel. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api, type Comment, isNotFound, type Me, type Member, type Task } from "./api";
import { Link } from "./router";
import { Button, Card, Empty, ErrorMessage, Field, Form, formatDate, Select, text } from "./ui";

const pageSize = 10;

export function Projects() {
  const queries = useQueryClient();
  const projects = useInfiniteQuery({
    queryKey: ["projects"],
    queryFn: ({ pageParam }) =>
      api.projects.list.query({ limit: pageSize, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const create = useMutation({
    mutationFn: (form: FormData) =>
      api.projects.create.mutate({
        name: text(form, "name"),
        ...(text(form, "description") ? { description: text(form, "description") } : {}),
      }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["projects"] }),
  });
  const items = projects.data?.pages.flatMap((page) => page.items) ?? [];

  return (
    <div className="stack">
      <Card title="New project">
        <Form
          className="inline-form"
          onSubmit={(form, element) => create.mutate(form, { onSuccess: () => element.reset() })}
        >
          <Field label="Name" name="name" required maxLength={200} placeholder="Website relaunch" />
          <Field label="Description" name="description" maxLength={5000} placeholder="Optional" />
          <Button type="submit" busy={create.isPending}>
            Create
          </Button>
        </Form>
        <ErrorMessage error={create.error} />
      </Card>

      <Card title="Projects">
        <ErrorMessage error={projects.error} />
        {projects.isPending ? <p className="muted">Loading…</p> : null}
        {projects.isSuccess && items.length === 0 ? <Empty>No projects yet. Create the first one above.</Empty> : null}
        <ul className="list">
          {items.map((project) => (
            <li key={project.id}>
              <Link to={`/projects/${project.id}`} className="list-link">
                <strong>{project.name}</strong>
                {project.description ? <span className="muted">{project.description}</span> : null}
                <small className="muted">Created {formatDate(project.createdAt)}</small>
              </Link>
            </li>
          ))}
        </ul>
        {projects.hasNextPage ? (
          <Button variant="quiet" busy={projects.isFetchingNextPage} onClick={() => projects.fetchNextPage()}>
            Load more
          </Button>
        ) : null}
      </Card>
    </div>
  );
}

const columns: { status: Task["status"]; label: string }[] = [
  { status: "todo", label: "To do" },
  { status: "in_progress", label: "In progress" },
  { status: "done", label: "Done" },
];

/** Every member, for the assignee pickers (a team of up to a few hundred: pages of 100). */
export function useAllMembers() {
  return useQuery({
    queryKey: ["members", "all"],
    queryFn: async () => {
      const all: Member[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const result = await api.members.list.query({ limit: 100, ...(cursor ? { cursor } : {}) });
        all.push(...result.items);
        cursor = result.nextCursor;
        if (!cursor) break;
      }
      return all;
    },
  });
}

type Live = "connecting" | "live" | "offline";

/**
 * Keeps a project's screens current: its changes stream in (`events.onChange` over SSE, from the
 * workspace's head) and each refetches what it touches. The stream resumes by id on its own
 * after a drop; once it runs, the board is refetched once, so nothing between the first load and
 * the stream's start is missed.
 */
function useLiveProject(projectId: string, enabled: boolean): Live {
  const queries = useQueryClient();
  const [live, setLive] = useState<Live>("connecting");
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let subscription: { unsubscribe(): void } | undefined;
    const refetch = (key: unknown[]) => void queries.invalidateQueries({ queryKey: key });
    api.events.head.query().then(
      ({ lastEventId }) => {
        if (stopped) return;
        subscription = api.events.onChange.subscribe(
          { projectId, lastEventId },
          {
            onStarted: () => {
              setLive("live");
              refetch(["tasks", projectId]);
            },
            onData: ({ data: event }) => {
              if (event.type.startsWith("task.")) refetch(["tasks", projectId]);
              if (event.type.startsWith("project.")) refetch(["project", projectId]);
              if (event.type.startsWith("comment.")) {
                refetch(["comments", (event.payload as { taskId?: string }).taskId]);
              }
            },
            onError: () => setLive("offline"),
          },
        );
      },
      () => setLive("offline"),
    );
    return () => {
      stopped = true;
      subscription?.unsubscribe();
    };
  }, [projectId, enabled, queries]);
  return live;
}

const liveLabels: Record<Live, string> = {
  connecting: "Connecting…",
  live: "Live",
  offline: "Offline: reload to see changes",
};

/** A task's comments, newest first, to read, add to and (its author or an admin) delete. */
function TaskPanel({ task, onClose }: { task: Task; onClose: () => void }) {
  const queries = useQueryClient();
  const me = useQuery<Me>({ queryKey: ["me"], queryFn: () => api.auth.me.query(), staleTime: 60_000 });
  const comments = useInfiniteQuery({
    queryKey: ["comments", task.id],
    queryFn: ({ pageParam }) =>
      api.comments.list.query({ taskId: task.id, limit: 50, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const members = useAllMembers();
  const refresh = () => queries.invalidateQueries({ queryKey: ["comments", task.id] });
  const add = useMutation({
    mutationFn: (form: FormData) => api.comments.create.mutate({ taskId: task.id, body: text(form, "body") }),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: (comment: Comment) => api.comments.delete.mutate({ id: comment.id }),
    onSuccess: refresh,
  });
  const all = comments.data?.pages.flatMap((page) => page.items) ?? [];
  const nameOf = new Map((members.data ?? []).map((m) => [m.id, m.name]));
  const mayDelete = (comment: Comment) =>
    comment.authorId === me.data?.user.id || me.data?.user.role === "admin" || me.data?.user.role === "owner";

  return (
    <aside className="task-panel" aria-label={`Task: ${task.title}`}>
      <Card
        title={task.title}
        actions={
          <Button variant="quiet" onClick={onClose}>
            Close
          </Button>
        }
      >
        <Form className="form" onSubmit={(form, element) => add.mutate(form, { onSuccess: () => element.reset() })}>
          <label className="field">
            <span>Comment</span>
            <textarea name="body" required maxLength={10_000} rows={3} placeholder="Write a comment" />
          </label>
          <Button type="submit" busy={add.isPending}>
            Add comment
          </Button>
        </Form>
        <ErrorMessage error={add.error ?? remove.error ?? comments.error} />
        {comments.isSuccess && all.length === 0 ? <Empty>No comments yet.</Empty> : null}
        <ul className="list comments">
          {all.map((comment) => (
            <li key={comment.id} data-testid="comment">
              <p className="comment-body">{comment.body}</p>
              <small className="muted">
                {nameOf.get(comment.authorId) ?? "A former member"} · {formatDate(comment.createdAt)}
              </small>
              {mayDelete(comment) ? (
                <Button variant="quiet" busy={remove.isPending} onClick={() => remove.mutate(comment)}>
                  Delete
                </Button>
              ) : null}
            </li>
          ))}
        </ul>
        {comments.hasNextPage ? (
          <Button variant="quiet" busy={comments.isFetchingNextPage} onClick={() => comments.fetchNextPage()}>
            Older comments
          </Button>
        ) : null}
      </Card>
    </aside>
  );
}

export function ProjectBoard({ id }: { id: string }) {
  const queries = useQueryClient();
  const [openTaskId, setOpenTaskId] = useState<string | null>(null);
  const project = useQuery({ queryKey: ["project", id], queryFn: () => api.projects.get.query({ id }), retry: false });
  const tasks = useInfiniteQuery({
    queryKey: ["tasks", id],
    queryFn: ({ pageParam }) =>
      api.tasks.list.query({ projectId: id, limit: 100, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
    enabled: project.isSuccess,
  });
  const members = useAllMembers();
  const live = useLiveProject(id, project.isSuccess);
  const refresh = () => queries.invalidateQueries({ queryKey: ["tasks", id] });
  const create = useMutation({
    mutationFn: (form: FormData) =>
      api.tasks.create.mutate({
        projectId: id,
        title: text(form, "title"),
        ...(text(form, "assignee") ? { assigneeId: text(form, "assignee") } : {}),
      }),
    onSuccess: refresh,
  });
  const update = useMutation({
    mutationFn: (change: { id: string; status?: Task["status"]; assigneeId?: string | null }) =>
      api.tasks.update.mutate(change),
    onSuccess: refresh,
  });

  if (project.isPending) return <p className="muted">Loading…</p>;
  if (project.error) {
    return (
      <Card title={isNotFound(project.error) ? "Project not found" : "Could not load the project"}>
        <p>
          {isNotFound(project.error)
            ? "There is no such project in this workspace. It may have been deleted, or the link is wrong."
            : null}
        </p>
        {isNotFound(project.error) ? null : <ErrorMessage error={project.error} />}
        <Link to="/projects">Back to projects</Link>
      </Card>
    );
  }
  const all = tasks.data?.pages.flatMap((page) => page.items) ?? [];
  const nameOf = new Map((members.data ?? []).map((m) => [m.id, m.name]));
  const openTask = all.find((task) => task.id === openTaskId);

  return (
    <div className="stack">
      <div className="page-title">
        <Link to="/projects" className="muted">
          ← Projects
        </Link>
        <h1>{project.data.name}</h1>
        {project.data.description ? <p className="muted">{project.data.description}</p> : null}
        <span className={`live live-${live}`} role="status" data-testid="live">
          {liveLabels[live]}
        </span>
      </div>
      <Card title="New task">
        <Form
          className="inline-form"
          onSubmit={(form, element) => create.mutate(form, { onSuccess: () => element.reset() })}
        >
          <Field label="Title" name="title" required maxLength={200} placeholder="Write the launch post" />
          <Select label="Assignee" name="assignee" defaultValue="">
            <option value="">Nobody yet</option>
            {(members.data ?? []).map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </Select>
          <Button type="submit" busy={create.isPending}>
            Add task
          </Button>
        </Form>
        <ErrorMessage error={create.error ?? update.error} />
      </Card>
      <ErrorMessage error={tasks.error} />
      <div className="board">
        {columns.map((column) => {
          const inColumn = all.filter((task) => task.status === column.status);
          return (
            <section key={column.status} className="column" aria-label={column.label}>
              <h2>
                {column.label} <span className="count">{inColumn.length}</span>
              </h2>
              {inColumn.length === 0 ? <Empty>Nothing here.</Empty> : null}
              {inColumn.map((task) => (
                <article key={task.id} className="task" data-testid="task">
                  <strong>{task.title}</strong>
                  <Button
                    variant="quiet"
                    aria-label={`Comments on ${task.title}`}
                    onClick={() => setOpenTaskId(task.id === openTaskId ? null : task.id)}
                  >
                    Comments
                  </Button>
                  <small className="muted">
                    {task.assigneeId ? `Assigned to ${nameOf.get(task.assigneeId) ?? "a former member"}` : "Unassigned"}
                  </small>
                  <div className="task-controls">
                    <Select
                      label="Status"
                      value={task.status}
                      onChange={(e) => update.mutate({ id: task.id, status: e.target.value as Task["status"] })}
                    >
                      {columns.map((c) => (
                        <option key={c.status} value={c.status}>
                          {c.label}
                        </option>
                      ))}
                    </Select>
                    <Select
                      label="Assignee"
                      value={task.assigneeId ?? ""}
                      onChange={(e) => update.mutate({ id: task.id, assigneeId: e.target.value || null })}
                    >
                      <option value="">Nobody</option>
                      {(members.data ?? []).map((m) => (
                        <option key={m.id} value={m.id}>
                          {m.name}
                        </option>
                      ))}
                    </Select>
                  </div>
                </article>
              ))}
            </section>
          );
        })}
      </div>
      {tasks.hasNextPage ? (
        <Button variant="quiet" busy={tasks.isFetchingNextPage} onClick={() => tasks.fetchNextPage()}>
          Load more tasks
        </Button>
      ) : null}
      {openTask ? <TaskPanel key={openTask.id} task={openTask} onClose={() => setOpenTaskId(null)} /> : null}
    </div>
  );
}
