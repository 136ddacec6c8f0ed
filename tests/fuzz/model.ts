/**
 * The in-memory model of one tenant that the fuzzer checks the API against: what a tenant
 * alone would see if no other tenant existed.
 */
export type Status = "todo" | "in_progress" | "done";

export interface ModelProject {
  id: string;
  name: string;
  description: string | null;
}

export interface ModelTask {
  id: string;
  projectId: string;
  title: string;
  status: Status;
  assigneeId: string | null;
}

export class TenantModel {
  readonly projects = new Map<string, ModelProject>();
  readonly tasks = new Map<string, ModelTask>();
  /** Every id this tenant ever had (its own, its members', projects', tasks'), deleted or not. */
  readonly everId = new Set<string>();

  constructor(
    readonly index: number,
    readonly tenantId: string,
    readonly members: { userId: string; role: "owner" | "admin" | "member" }[],
  ) {
    this.everId.add(tenantId);
    for (const member of members) this.everId.add(member.userId);
  }

  /** The text tag every name this tenant writes carries. */
  get tag() {
    return `T${this.index}-`;
  }

  addProject(project: ModelProject) {
    this.projects.set(project.id, project);
    this.everId.add(project.id);
  }

  deleteProject(id: string) {
    this.projects.delete(id);
    for (const [taskId, task] of this.tasks) if (task.projectId === id) this.tasks.delete(taskId);
  }

  addTask(task: ModelTask) {
    this.tasks.set(task.id, task);
    this.everId.add(task.id);
  }

  tasksOf(projectId: string, status?: Status) {
    return [...this.tasks.values()].filter((t) => t.projectId === projectId && (!status || t.status === status));
  }
}
