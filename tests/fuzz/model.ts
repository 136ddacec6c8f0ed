/**
 * The in-memory model of one tenant that the fuzzer checks the API against: what a tenant
 * alone would see if no other tenant existed.
 */
export type Status = "todo" | "in_progress" | "done";

/** The tenant tables the model fuzzer writes and reads through the API, against its model. */
export const modelledTables = ["projects", "tasks", "users"];

/**
 * Tenant tables the model leaves out, each with what covers it instead; every other one must be
 * modelled (`tests/tenant-coverage.test.ts` names a table in neither).
 */
export const notModelled: Record<string, string> = {
  comments: "the cross-tenant probe (every procedure with an id) and tests/comments.test.ts",
  invitations: "the cross-tenant probe and tests/auth/members.test.ts, tests/hardening/invitations.test.ts",
  audit_events: "written by every mutation; tests/audit.test.ts and the probe's check of the caller's trail",
  refresh_tokens: "sessions: tests/auth and tests/hardening/revocation-race.test.ts",
  password_resets: "tests/auth/passwords.test.ts",
  verifications: "tests/auth/verification.test.ts",
  outbox: "tests/mail/outbox.test.ts",
  tenant_limits: "tests/tenant-lifecycle.test.ts (quotas)",
  tenant_usage: "tests/tenant-lifecycle.test.ts (quotas, 50 parallel creates at the limit)",
  events: "tests/events.test.ts (order, no gaps, nothing of another tenant, resumption, the member re-check)",
  event_sequences: "tests/events.test.ts (ids without gaps, a rollback leaves none)",
  webhooks: "the cross-tenant probe (every procedure with an id) and tests/webhooks.test.ts",
  api_keys: "the fuzzer's key principals, the cross-tenant probe and tests/api-keys.test.ts",
  api_key_usage: "tests/api-keys.test.ts (the budget, 60 parallel requests across two servers)",
  totp_factors: "tests/auth/mfa.test.ts (encrypted, single use of a step, the policy) and the probe (members.resetMfa)",
  passkeys: "tests/auth/passkeys.test.ts (a software authenticator: counter, binding, policy) and the probe",
  recovery_codes: "tests/auth/mfa.test.ts (single use, 30 parallel uses of one code)",
  mfa_challenges: "tests/auth/mfa.test.ts (single use, bound to its account and tenant, throttled)",
  webhook_deliveries: "the cross-tenant probe and tests/webhooks.test.ts (delivery, retries, dead, redelivery)",
};

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
