import { readdirSync, readFileSync } from "node:fs";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { functionsFolder } from "../db/functions.js";
import { checkPosture, lints } from "../db/posture.js";
import { openTestDatabase, type TestDatabase } from "./helpers/db.js";
import { dropScratchResource, scratchResource } from "./helpers/scratch-resource.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(() => db.close());

/** Applies `breakSql` (as the superuser), checks posture, then restores with `fixSql`. */
async function problemsWhile(breakSql: string, fixSql: string, runtimeRole?: string): Promise<string[]> {
  await runScript(breakSql);
  try {
    return (await checkPosture(db.database.db, runtimeRole ? { runtimeRole } : {})).problems;
  } finally {
    await runScript(fixSql);
  }
}

/** Statement by statement: PGlite's extended protocol takes one command at a time. */
async function runScript(script: string) {
  if (/\$\$|BEGIN ATOMIC/i.test(script)) {
    // A function file: one statement whose body holds semicolons of its own.
    await db.admin.execute(sql.raw(script));
    return;
  }
  for (const statement of script
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)) {
    await db.admin.execute(sql.raw(statement));
  }
}

describe("posture check", () => {
  it("passes on the migrated database", async () => {
    expect((await checkPosture(db.database.db)).problems).toEqual([]);
  });

  it("raises none of the generic lints on the migrated database, and names each when it applies", async () => {
    expect(await lints(db.database.db)).toEqual([]);
    await runScript(`
      create table lint_parent (id uuid primary key);
      create table lint_child (parent_id uuid references lint_parent (id), note text);
      create index lint_child_note_a on lint_child (note);
      create index lint_child_note_b on lint_child (note);
      alter table lint_child enable row level security;
      create policy "per row" on lint_child using (note = current_setting('app.note', true));
      create policy "once" on lint_child for insert with check (note = (select current_setting('app.note', true)))`);
    try {
      expect(await lints(db.database.db)).toEqual([
        'lint auth_rls_initplan: public.lint_child: policy "per row" calls current_setting() for each row',
        "lint duplicate_index: lint_child: lint_child_note_a, lint_child_note_b",
        "lint no_primary_key: public.lint_child has no primary key",
        "lint unindexed_foreign_keys: lint_child: foreign key lint_child_parent_id_fkey has no index leading with its columns",
      ]);
      expect((await checkPosture(db.database.db)).warnings).toEqual(
        expect.arrayContaining(await lints(db.database.db)),
      );
    } finally {
      await runScript("drop table lint_child; drop table lint_parent");
    }
  });

  it("reports every function that differs from db/sql/functions/, and one no file defines", async () => {
    const read = "app.read(uuid, uuid, integer, uuid, text, text, text, text[], text)";
    const definer = await problemsWhile(
      `alter function ${read} security definer`,
      `alter function ${read} security invoker`,
    );
    expect(definer).toEqual([
      expect.stringMatching(
        /^function app\.read\(p_tenant uuid, .*\) differs from db\/sql\/functions\/read\.sql: it is SECURITY DEFINER$/,
      ),
    ]);
    const body = await problemsWhile(
      "create or replace function app.current_user_id() returns uuid language sql stable parallel safe begin atomic select null::uuid; end",
      readFileSync(`${functionsFolder}/current_user_id.sql`, "utf8"),
    );
    expect(body).toEqual([
      "function app.current_user_id() differs from db/sql/functions/current_user_id.sql: its body",
    ]);
    const granted = await problemsWhile(
      "grant execute on function app.prune_expired(integer, integer, integer, integer) to public",
      "revoke execute on function app.prune_expired(integer, integer, integer, integer) from public",
    );
    expect(granted).toEqual([
      "function app.prune_expired(p_batch integer, p_throttle_window_seconds integer, p_audit_retention_days integer, p_event_retention_days integer) differs from db/sql/functions/prune_expired.sql: who may execute it (PUBLIC, bulkhead_app)",
    ]);
    const sneaky = await problemsWhile(
      "create function app.read_everything() returns bigint language sql set search_path = pg_catalog, pg_temp as 'select count(*) from public.projects'",
      "drop function app.read_everything()",
    );
    expect(sneaky).toEqual(["function app.read_everything() is not defined in db/sql/functions/"]);
  });

  it("fails when a tenant table has RLS disabled", async () => {
    const problems = await problemsWhile(
      "alter table projects disable row level security",
      "alter table projects enable row level security",
    );
    expect(problems).toContain("public.projects: row-level security is not enabled");
  });

  it("fails when a tenant table's RLS is not forced", async () => {
    const problems = await problemsWhile(
      "alter table tasks no force row level security",
      "alter table tasks force row level security",
    );
    expect(problems).toContain("public.tasks: row-level security is not forced (the owner bypasses it)");
  });

  it("fails when a tenant table is missing a policy", async () => {
    const policy = "users are seen and written only within their tenant";
    const problems = await problemsWhile(
      `alter policy "${policy}" on users rename to "temp"; drop policy "temp" on users;
       create policy "users may only be read" on users for select using (tenant_id = app.current_tenant_id())`,
      `drop policy "users may only be read" on users;
       create policy "${policy}" on users for all using (tenant_id = app.current_tenant_id()) with check (tenant_id = app.current_tenant_id())`,
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "public.users: no policy for INSERT applies to bulkhead_app",
        "public.users: no policy for UPDATE applies to bulkhead_app",
        "public.users: no policy for DELETE applies to bulkhead_app",
      ]),
    );
  });

  it("fails when a policy lacks WITH CHECK", async () => {
    const policy = "projects are seen and written only within their tenant";
    const problems = await problemsWhile(
      `drop policy "${policy}" on projects; create policy "loose" on projects for all using (tenant_id = app.current_tenant_id())`,
      `drop policy "loose" on projects;
       create policy "${policy}" on projects for all using (tenant_id = app.current_tenant_id()) with check (tenant_id = app.current_tenant_id())`,
    );
    expect(problems).toContain('public.projects: policy "loose" lacks USING or WITH CHECK');
  });

  it("fails on a new tenant table created without RLS", async () => {
    const problems = await problemsWhile(
      "create table public.notes (tenant_id uuid not null, id uuid primary key)",
      "drop table public.notes",
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "public.notes: row-level security is not enabled",
        "public.notes: row-level security is not forced (the owner bypasses it)",
        "public.notes: no policy for SELECT applies to bulkhead_app",
      ]),
    );
  });

  it("fails on a SECURITY DEFINER function without a pinned search_path", async () => {
    const problems = await problemsWhile(
      "create function app.leaky() returns int language sql security definer as 'select 1'",
      "drop function app.leaky()",
    );
    expect(problems).toContain("SECURITY DEFINER function app.leaky() does not pin search_path");
  });

  it("fails on a function that sets an app.* setting with set_config(), which Citus never forwards", async () => {
    const problems = await problemsWhile(
      `create function public.enter_somewhere(p uuid) returns void language plpgsql set search_path = pg_catalog as $$
       begin perform pg_catalog.set_config( 'app.tenant_id', p::text, true); end $$`,
      "drop function public.enter_somewhere(uuid)",
    );
    expect(problems).toContain(
      "function public.enter_somewhere(p uuid) sets an app.* setting with set_config(): use SET LOCAL, which Citus forwards to its workers",
    );
    // Every function of ours sets them with SET LOCAL (the migrated database passes above).
    for (const file of readdirSync(functionsFolder))
      expect(readFileSync(`${functionsFolder}/${file}`, "utf8"), file).not.toMatch(/set_config\s*\(\s*'app\./i);
  });

  it("fails on a view that is not security_invoker", async () => {
    const problems = await problemsWhile(
      "create view public.all_projects as select * from projects",
      "drop view public.all_projects",
    );
    expect(problems).toContain(
      "view public.all_projects is not security_invoker: it would read tenant tables with its owner's rights",
    );
  });

  it("fails when the runtime role is a superuser or has BYPASSRLS", async () => {
    // Roles are cluster-wide: probe a scratch role rather than alter bulkhead_app under other suites.
    const role = `bulkhead_probe_${Date.now()}`;
    const problems = await problemsWhile(`create role ${role} superuser bypassrls`, `drop role ${role}`, role);
    expect(problems).toEqual(
      expect.arrayContaining([
        `runtime role ${role} is a superuser: superusers bypass RLS`,
        `runtime role ${role} has BYPASSRLS`,
      ]),
    );
  });

  it("fails when the runtime role owns a tenant table", async () => {
    const problems = await problemsWhile(
      "alter table invitations owner to bulkhead_app",
      "alter table invitations owner to bulkhead_owner",
    );
    expect(problems).toContain("public.invitations: owned by the runtime role bulkhead_app");
  });

  it("fails on a function whose search_path is not pinned, invoker functions included", async () => {
    const problems = await problemsWhile(
      "alter function app.tenant_id_for_slug(text) reset search_path",
      "alter function app.tenant_id_for_slug(text) set search_path = pg_catalog, pg_temp",
    );
    expect(problems).toEqual([
      "SECURITY DEFINER function app.tenant_id_for_slug(p_slug text) does not pin search_path",
      "function app.tenant_id_for_slug(p_slug text) differs from db/sql/functions/tenant_id_for_slug.sql: search_path (not pinned)",
    ]);
    // A body written as text is read again under each caller's search_path; a SQL-standard body
    // (BEGIN ATOMIC) was bound when it was created, and only its text is compared.
    const quoted = await problemsWhile(
      `create or replace function app.current_tenant_id() returns uuid language sql stable parallel safe
         as $$ select (nullif(current_setting('app.tenant_id', true), ''))::uuid $$`,
      readFileSync(`${functionsFolder}/current_tenant_id.sql`, "utf8"),
    );
    expect(quoted).toEqual([
      "function app.current_tenant_id() does not pin search_path",
      "function app.current_tenant_id() differs from db/sql/functions/current_tenant_id.sql: its body",
    ]);
    const atomic = await problemsWhile(
      `create or replace function app.current_tenant_id() returns uuid language sql stable parallel safe
         begin atomic select (current_setting('app.tenant_id', true))::uuid; end`,
      readFileSync(`${functionsFolder}/current_tenant_id.sql`, "utf8"),
    );
    expect(atomic).toEqual([
      "function app.current_tenant_id() differs from db/sql/functions/current_tenant_id.sql: its body",
    ]);
  });

  it("fails on a policy that drifted from db/schema.ts: renamed, truncated, edited or undeclared", async () => {
    const policy = "tasks are seen and written only within their tenant";
    const renamed = await problemsWhile(
      `alter policy "${policy}" on tasks rename to "tasks are visible and writable only within their own tenant"`,
      `alter policy "tasks are visible and writable only within their own tenant" on tasks rename to "${policy}"`,
    );
    expect(renamed).toEqual([
      `public.tasks: policy "${policy}" of db/schema.ts is not in the database`,
      // PostgreSQL kept 63 bytes of the 65 it was given.
      'public.tasks: policy "tasks are visible and writable only within their own tenant" is not declared in db/schema.ts',
    ]);
    const edited = await problemsWhile(
      `alter policy "${policy}" on tasks using (tenant_id = app.current_tenant_id() or true)`,
      `alter policy "${policy}" on tasks using (tenant_id = app.current_tenant_id())`,
    );
    expect(edited).toEqual([`public.tasks: policy "${policy}" differs from db/schema.ts`]);
    const retargeted = await problemsWhile(
      `alter policy "${policy}" on tasks to bulkhead_app`,
      `alter policy "${policy}" on tasks to public`,
    );
    expect(retargeted).toEqual([`public.tasks: policy "${policy}" differs from db/schema.ts`]);
  });

  it("finds nothing in a team's resource made as the recipe says, and names each rule it breaks", async () => {
    const made = await problemsWhile(scratchResource().join(";\n"), dropScratchResource.join(";"));
    expect(made).toEqual([]);
    expect(
      await problemsWhile(scratchResource({ linkByIdOnly: true }).join(";\n"), dropScratchResource.join(";")),
    ).toEqual([
      "scratch.task_labels: foreign key task_labels_label_fkey to scratch.labels does not include tenant_id (a row could point at another tenant's)",
      "scratch.labels: unique index scratch.labels_id_key does not include tenant_id (a conflict would tell one tenant about another's rows)",
    ]);
    expect(
      await problemsWhile(scratchResource({ namesUniqueEverywhere: true }).join(";\n"), dropScratchResource.join(";")),
    ).toEqual([
      "scratch.labels: unique index scratch.labels_name_key does not include tenant_id (a conflict would tell one tenant about another's rows)",
    ]);
  });

  describe("the schema's rules hold for a team's own tables", () => {
    /** A tenant table as docs/adding-a-resource.md makes one, with `change` left out or added. */
    const labels = (change: { owner?: false; key?: string; extra?: string } = {}) => `
      create table labels (tenant_id uuid not null references tenants (id), id uuid not null default gen_random_uuid(),
                           name text not null, ${change.key ?? "primary key (tenant_id, id)"});
      ${change.owner === false ? "" : "alter table labels owner to bulkhead_owner;"}
      alter table labels enable row level security;
      alter table labels force row level security;
      create policy "labels are seen only within their tenant" on labels
        using (tenant_id = app.current_tenant_id()) with check (tenant_id = app.current_tenant_id());
      ${change.extra ?? ""}`;
    const drop = "drop table if exists task_labels; drop table if exists labels";

    it("refuses a tenant table not owned by bulkhead_owner", async () => {
      const problems = await problemsWhile(labels({ owner: false }), drop);
      expect(problems.find((p) => p.startsWith("public.labels: owned by "))).toMatch(/, not bulkhead_owner$/);
      // Made as the recipe says, it passes every rule: only the policy is not declared in db/schema.ts.
      const made = await problemsWhile(labels(), drop);
      expect(made).toEqual([
        'public.labels: policy "labels are seen only within their tenant" is not declared in db/schema.ts',
      ]);
    });

    it("refuses a foreign key between tenant tables that leaves tenant_id out", async () => {
      const problems = await problemsWhile(
        labels({
          extra: `alter table labels add constraint labels_id_key unique (id);
            create table task_labels (tenant_id uuid not null, task_id uuid not null, label_id uuid not null,
              primary key (tenant_id, task_id, label_id),
              foreign key (tenant_id, task_id) references tasks (tenant_id, id),
              constraint task_labels_label_fkey foreign key (label_id) references labels (id));
            alter table task_labels owner to bulkhead_owner`,
        }),
        drop,
      );
      expect(problems).toContain(
        "public.task_labels: foreign key task_labels_label_fkey to public.labels does not include tenant_id (a row could point at another tenant's)",
      );
      expect(problems.filter((p) => p.includes("task_labels_pkey") || p.includes("tasks_"))).toEqual([]);
    });

    it("refuses a unique index on a tenant table without tenant_id, an expression index included", async () => {
      const problems = await problemsWhile(
        labels({ extra: "create unique index labels_name_key on labels (lower(name))" }),
        drop,
      );
      expect(problems).toContain(
        "public.labels: unique index labels_name_key does not include tenant_id (a conflict would tell one tenant about another's rows)",
      );
      const perTenant = await problemsWhile(
        labels({ extra: "create unique index labels_name_key on labels (tenant_id, lower(name))" }),
        drop,
      );
      expect(perTenant.filter((p) => p.includes("labels_name_key"))).toEqual([]);
    });

    it("refuses a tenant table no index leads with tenant_id", async () => {
      const problems = await problemsWhile(labels({ key: "primary key (id, tenant_id)" }), drop);
      expect(problems).toContain(
        "public.labels: no index leads with tenant_id (a tenant's query would scan every tenant's rows)",
      );
    });

    it("refuses a grant to the runtime role beyond the declared set", async () => {
      const problems = await problemsWhile(
        labels({
          extra: `grant select, insert, truncate on labels to bulkhead_app;
            grant update (name) on labels to bulkhead_app;
            grant references on projects to bulkhead_app;
            grant create on schema public to bulkhead_app;
            grant bulkhead_owner to bulkhead_app`,
        }),
        `revoke create on schema public from bulkhead_app; revoke bulkhead_owner from bulkhead_app;
         revoke references on projects from bulkhead_app; ${drop}`,
      );
      expect(problems).toEqual(
        expect.arrayContaining([
          "public.labels: the runtime role may INSERT",
          "public.labels: the runtime role may SELECT",
          "public.labels: the runtime role may TRUNCATE",
          "public.labels: the runtime role may UPDATE (column name)",
          "public.projects: the runtime role may REFERENCES",
          "schema public: the runtime role may CREATE",
          "the runtime role is a member of bulkhead_owner",
        ]),
      );
      // What the migrations grant is declared: none of it is named.
      expect(problems.filter((p) => p.startsWith("public.projects:"))).toEqual([
        "public.projects: the runtime role may REFERENCES",
      ]);
    });
  });

  it("fails when a (table, role, command) has more than one permissive policy", async () => {
    const problems = await problemsWhile(
      `create policy "owner sees everything" on invitations for select to bulkhead_owner using (true)`,
      `drop policy "owner sees everything" on invitations`,
    );
    expect(problems).toContain(
      "public.invitations for bulkhead_owner on SELECT: 2 permissive policies (the owner role sees expired invitations, to prune them; owner sees everything), want one",
    );
  });
});
