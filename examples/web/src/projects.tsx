/** Projects: the list with keyset "load more", and a project's task board. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, isNotFound, type Member, type Task } from "./api";
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

export function ProjectBoard({ id }: { id: string }) {
  const queries = useQueryClient();
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

  return (
    <div className="stack">
      <div className="page-title">
        <Link to="/projects" className="muted">
          ← Projects
        </Link>
        <h1>{project.data.name}</h1>
        {project.data.description ? <p className="muted">{project.data.description}</p> : null}
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
    </div>
  );
}
