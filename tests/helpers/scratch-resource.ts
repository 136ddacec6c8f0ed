/**
 * A team's own resource, as docs/adding-a-resource.md makes one — labels, and task_labels linking
 * them to tasks — in a schema of its own (`scratch`), so the policy-drift check (which compares
 * `public` with db/schema.ts) leaves it alone and the schema's rules are all that judge it. Made
 * as the recipe says, the posture check finds nothing; the mutation check breaks one rule at a
 * time (`tests/mutations/defences.ts`).
 */
export interface ScratchBreak {
  /** The link's foreign key to labels by the label's id alone, not (tenant_id, id). */
  linkByIdOnly?: boolean;
  /** Label names unique across every tenant, not per tenant. */
  namesUniqueEverywhere?: boolean;
}

/** Statements, one per entry (PGlite's extended protocol takes one command at a time). */
export function scratchResource(broken: ScratchBreak = {}): string[] {
  const table = (name: string, columns: string) => [
    `create table scratch.${name} (${columns})`,
    `alter table scratch.${name} owner to bulkhead_owner`,
    `alter table scratch.${name} enable row level security`,
    `alter table scratch.${name} force row level security`,
    `create policy "${name} are seen only within their tenant" on scratch.${name}
       using (tenant_id = app.current_tenant_id()) with check (tenant_id = app.current_tenant_id())`,
  ];
  return [
    "create schema scratch",
    ...table(
      "labels",
      "tenant_id uuid not null references public.tenants (id), id uuid not null default gen_random_uuid(), name text not null, primary key (tenant_id, id)",
    ),
    broken.namesUniqueEverywhere
      ? "create unique index labels_name_key on scratch.labels (lower(name))"
      : "create unique index labels_name_key on scratch.labels (tenant_id, lower(name))",
    ...(broken.linkByIdOnly ? ["alter table scratch.labels add constraint labels_id_key unique (id)"] : []),
    ...table(
      "task_labels",
      `tenant_id uuid not null, task_id uuid not null, label_id uuid not null,
       primary key (tenant_id, task_id, label_id),
       constraint task_labels_task_fkey foreign key (tenant_id, task_id) references public.tasks (tenant_id, id),
       ${
         broken.linkByIdOnly
           ? "constraint task_labels_label_fkey foreign key (label_id) references scratch.labels (id)"
           : "constraint task_labels_label_fkey foreign key (tenant_id, label_id) references scratch.labels (tenant_id, id)"
       }`,
    ),
  ];
}

export const dropScratchResource = ["drop schema if exists scratch cascade"];
